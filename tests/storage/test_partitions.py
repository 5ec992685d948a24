"""Partitions of one campaign share an output: each numbers, recovers and cleans only its own commits."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pyarrow.parquet as pq
from fixtures.crash_writer import synthetic_samples

from foundry.sources import partition_of
from foundry.storage.layout import SHARD_NAME
from foundry.storage.manifest import Journal, read_commits, read_manifest
from foundry.storage.records import RunRecord, run_states
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import LocalStore


def writer(store, label):
    return ShardWriter(store, max_rows=4, flush_seconds=3600, partition=label)


def test_two_partitions_interleave_commits_without_conflict(tmp_path):
    store = LocalStore(tmp_path / "out")
    tasks = {"p0of2": [f"a{i}" for i in range(6)], "p1of2": [f"b{i}" for i in range(4)]}
    first, second = writer(store, "p0of2"), writer(store, "p1of2")
    with first, second:
        for a, b in zip(tasks["p0of2"], tasks["p1of2"] + [None, None]):
            first.add_task(a, synthetic_samples(a))  # 3 samples a task: a commit every 2 tasks
            if b:
                second.add_task(b, synthetic_samples(b))
    names = sorted(key for key in store.list("data/"))
    assert names == sorted(f"data/{split}-{label}-{seq:05d}.parquet" for label, seqs in (("p0of2", 3), ("p1of2", 2))
                           for seq in range(seqs) for split in ("accepted", "rejected"))
    assert all(SHARD_NAME.fullmatch(name)["partition"] in ("p0of2", "p1of2") for name in names)
    ids = [row["id"] for name in names for row in pq.read_table(tmp_path / "out" / name).to_pylist()]
    assert len(ids) == len(set(ids)) == 30
    # Either partition's manifest describes the whole output, whichever closed last.
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["tasks_completed"] == 10 and manifest["samples"] == 30 and manifest["commits"] == 5
    assert Counter(shard["partition"] for shard in manifest["shards"]) == {"p0of2": 6, "p1of2": 4}
    assert [(r.get("partition"), r["seq"]) for r in read_commits(store)] == [
        ("p0of2", 0), ("p0of2", 1), ("p0of2", 2), ("p1of2", 0), ("p1of2", 1)]


def test_a_partition_recovers_its_own_debris_and_leaves_the_others(tmp_path):
    store = LocalStore(tmp_path / "out")
    with writer(store, "p0of2") as first:
        first.add_task("a0", synthetic_samples("a0"))
        first.add_task("a1", synthetic_samples("a1"))
    # Partition 1 crashed: a staged shard with no record, and a data/ copy of it that never had one.
    store.put("_foundry/staging/p1of2-00000-deadbeef/accepted.parquet", b"staged, never committed")
    store.put("data/accepted-p1of2-00000.parquet", b"copied, never committed")
    # Partition 0's own staging debris of a decided number, and a crash of its next commit.
    store.put("_foundry/staging/p0of2-00000-cafe0000/accepted.parquet", b"lost the race for 0")
    store.put("_foundry/staging/p0of2-00001-cafe0001/accepted.parquet", b"in flight")

    resumed = Journal(store, "p0of2")
    resumed.recover()
    assert resumed.next_seq == 1 and "a1" in resumed.completed_tasks
    assert sorted(store.list("_foundry/staging/")) == ["_foundry/staging/p0of2-00001-cafe0001/accepted.parquet",
                                                      "_foundry/staging/p1of2-00000-deadbeef/accepted.parquet"]
    assert "data/accepted-p1of2-00000.parquet" in store.list("data/")

    with writer(store, "p1of2") as other:
        assert other.journal.next_seq == 0 and "a0" in other.completed_tasks  # it learns every committed task
        assert "data/accepted-p1of2-00000.parquet" not in store.list("data/")  # an orphan copy of its own
        other.add_task("b0", synthetic_samples("b0"))
    # Its commit 0 claimed the number, so the crashed staging of 0 went with it.
    assert store.list("_foundry/staging/") == ["_foundry/staging/p0of2-00001-cafe0001/accepted.parquet"]
    assert sorted(store.list("data/")) == sorted(f"data/{split}-{label}-00000.parquet" for split in
                                                 ("accepted", "rejected") for label in ("p0of2", "p1of2"))


def test_an_unpartitioned_writer_leaves_partition_files_alone(tmp_path):
    store = LocalStore(tmp_path / "out")
    store.put("_foundry/staging/p1of2-00000-deadbeef/accepted.parquet", b"another partition's, in flight")
    with writer(store, None) as plain:
        plain.add_task("t0", synthetic_samples("t0"))
    assert store.list("_foundry/staging/") == ["_foundry/staging/p1of2-00000-deadbeef/accepted.parquet"]
    assert read_manifest(store).tasks_completed == 1


def test_partitions_cover_every_task_once_and_agree_across_processes():
    ids = [f"task-{i}" for i in range(20_000)]
    owners = [partition_of(task, 4) for task in ids]
    assert set(owners) == {0, 1, 2, 3}
    assert all(4_500 < count < 5_500 for count in Counter(owners).values())
    code = "from foundry.sources import partition_of; print([partition_of(f'task-{i}', 4) for i in range(200)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout
    assert json.loads(other) == owners[:200]


def test_runs_of_other_partitions_are_not_taken_for_killed_ones():
    p0 = RunRecord(partition="p0of2", started_at=100.0, updated_at=190.0)
    p1 = RunRecord(partition="p1of2", started_at=101.0, updated_at=190.0)
    p1_again = RunRecord(partition="p1of2", started_at=150.0, updated_at=190.0)
    assert run_states([p0, p1], now=200.0) == ["running", "running"]
    assert run_states([p0, p1, p1_again], now=200.0) == ["running", "killed", "running"]
