"""Manifest and run records: typed, validated on read, generic over splits, written where a killed run leaves them."""

from __future__ import annotations

import json

import pytest
from fixtures.crash_writer import TASKS, synthetic_samples, write_tasks

from foundry.storage.layout import SHARD_NAME, shard_key
from foundry.storage.manifest import Journal, read_manifest
from foundry.storage.records import Manifest, ManifestError, RunRecord, read_run_records, write_run_record
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import LocalStore

# A manifest exactly as Foundry wrote it before typed records (format foundry/1), literal: not built by our code.
FOUNDRY_1 = {
    "format": "foundry/1", "campaign": "gsm8k", "config_hash": "abc", "config": {"name": "gsm8k"},
    "provenance": {"model": "m"},
    "runs": [{"started_at": 1_000.0, "wall_seconds": 100.0, "first_request_at": 1_010.0, "last_write_at": 1_090.0,
              "tasks_done": 4, "tasks_resumed": 0, "tasks_failed": 0, "samples": 12, "accepted": 4, "rejected": 8,
              "prompt_tokens": 100, "completion_tokens": 700, "replica_seconds": 200.0, "gpus_per_replica": 1.0,
              "replicas": 2, "replica_restarts": 0, "requests_retried": 0,
              "verifiers": {"math": {"passed": 4, "failed": 8}}, "failures": [], "source": {"rows": 4},
              "nodes": [{"node": "n1"}]}],
    "tasks_completed": 4, "samples": 12, "accepted": 4, "rejected": 8, "commits": 1,
    "shards": [{"path": "data/accepted-00000.parquet", "split": "accepted", "rows": 4, "bytes": 10, "commit": 0},
               {"path": "data/rejected-00000.parquet", "split": "rejected", "rows": 8, "bytes": 20, "commit": 0}],
    "updated_at": 1_100.0,
}


@pytest.fixture
def local(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "out")


def put_json(store, key: str, value) -> None:
    store.put(key, json.dumps(value).encode())


def test_a_foundry_1_manifest_is_migrated_on_read(local):
    put_json(local, "manifest.json", FOUNDRY_1)
    manifest = read_manifest(local)
    assert (manifest.accepted, manifest.rejected, manifest.samples) == (4, 8, 12)
    assert manifest.counts == {"accepted": 4, "rejected": 8} and manifest.schema_version == 2
    [run] = manifest.runs
    assert (run.status, run.ended_at, run.elapsed_seconds, run.gpu_seconds) == ("finished", 1_100.0, 100.0, 200.0)
    assert run.nodes == [{"node": "n1"}] and run.verifiers == {"math": {"passed": 4, "failed": 8}}


def test_resuming_a_foundry_1_output_keeps_its_runs(local):
    put_json(local, "manifest.json", FOUNDRY_1)
    write_run_record(local, RunRecord(run_id="new", status="finished", started_at=2_000.0, wall_seconds=5.0))
    with ShardWriter(local, manifest_extra={"campaign": "gsm8k"}):
        pass
    written = json.loads(local.get("manifest.json"))
    assert [r["run_id"] for r in written["runs"]] == ["foundry1-000", "new"]
    assert written["schema_version"] == 2 and "format" not in written


@pytest.mark.parametrize("change, field", [
    ({"runs": [{"run_id": "r", "wall_seconds": "long"}]}, "runs.0.wall_seconds"),
    ({"shards": [{"path": "data/accepted-1.parquet", "split": "accepted", "rows": 1, "bytes": 1, "commit": 0}]},
     "shards.0"),
    ({"counts": {"accepted": -0.5}}, "counts.accepted"),
    ({"surprise": 1}, "surprise"),
])
def test_a_manifest_that_does_not_fit_names_the_file_and_the_field(local, change, field):
    put_json(local, "manifest.json", {"schema_version": 2, **change})
    with pytest.raises(ManifestError) as error:
        read_manifest(local)
    message = str(error.value)
    assert message.startswith(f"{local.uri}/manifest.json: {field}") and "\n" not in message


@pytest.mark.parametrize("data, reason", [(b"{not json", "not JSON"), (b'{"schema_version": 3}', "newer")])
def test_unreadable_or_newer_manifests_are_refused(local, data, reason):
    local.put("manifest.json", data)
    with pytest.raises(ManifestError, match=reason):
        read_manifest(local)


def test_run_records_are_one_file_per_run_rewritten_in_place(local):
    first = RunRecord(run_id="a", started_at=10.0, campaign="c")
    write_run_record(local, first)
    first.tasks_done, first.status = 3, "finished"
    write_run_record(local, first)
    write_run_record(local, RunRecord(run_id="b", started_at=5.0))
    assert local.list("_foundry/runs/") == ["_foundry/runs/a.json", "_foundry/runs/b.json"]
    records = read_run_records(local)
    assert [(r.run_id, r.status, r.tasks_done) for r in records] == [("b", "running", 0), ("a", "finished", 3)]
    assert all(r.updated_at is not None for r in records)


def test_a_bad_run_record_names_its_file(local):
    put_json(local, "_foundry/runs/x.json", {"run_id": "x", "tasks_done": "many"})
    with pytest.raises(ManifestError, match=r"_foundry/runs/x\.json: tasks_done"):
        read_run_records(local)


def test_counts_are_per_split_and_samples_are_only_accepted_and_rejected(local):
    journal = Journal(local)
    journal.recover()
    journal.commit({"accepted": b"a", "excluded": b"e", "tasks": b"t"}, ["t1", "t2"], ["s1"],
                   {"accepted": 1, "rejected": 0, "excluded": 1, "tasks": 2})
    journal.commit({"reviews": b"r", "corrected": b"c"}, [], [], {"reviews": 3, "corrected": 1})  # review compaction
    manifest = journal.write_manifest({})
    assert manifest.counts == {"accepted": 1, "rejected": 0, "excluded": 1, "tasks": 2, "reviews": 3,
                               "corrected": 1}
    assert (manifest.samples, manifest.tasks_completed, manifest.commits) == (1, 2, 2)
    resumed = Journal(local)
    resumed.recover()
    assert resumed.completed_tasks == {"t1", "t2"} and resumed.next_seq == 2
    assert set(local.list("data/")) == {"data/accepted-00000.parquet", "data/excluded-00000.parquet",
                                        "data/tasks-00000.parquet", "data/reviews-00001.parquet",
                                        "data/corrected-00001.parquet"}


def test_an_output_whose_runs_never_closed_is_still_summarized(local):
    """Killed before any close: no manifest.json, but commits and a run record are there to report from."""
    writer = ShardWriter(local, max_rows=4, flush_seconds=3600).__enter__()
    write_run_record(local, RunRecord(run_id="killed", campaign="c", started_at=1.0, replicas=1))
    for task in TASKS[:2]:
        writer.add_task(task, synthetic_samples(task))  # the second fills a commit
    manifest = read_manifest(local)  # the writer is never closed: killed
    assert local.get("manifest.json") is None
    assert (manifest.campaign, manifest.tasks_completed, manifest.accepted, manifest.rejected) == ("c", 2, 2, 4)
    assert [r.run_id for r in manifest.runs] == ["killed"]


def test_shard_names_are_one_pattern_for_every_split_past_99999():
    for split in ("accepted", "rejected", "excluded", "tasks", "corrected", "reviews"):
        for seq in (0, 99_999, 100_000, 1_234_567):
            assert SHARD_NAME.fullmatch(f"data/{split}-{seq:05d}.parquet"), (split, seq)
            assert shard_key(split, seq) == f"data/{split}-{seq:05d}.parquet"
    for name in ("data/accepted-0001.parquet", "data/train-00000.parquet", "data/accepted-00000.parquet.bak",
                 "x/data/accepted-00000.parquet"):
        assert not SHARD_NAME.fullmatch(name), name
    with pytest.raises(ValueError, match="unknown split"):
        shard_key("train", 0)
    Manifest(shards=[{"path": "data/reviews-100000.parquet", "split": "reviews", "rows": 1, "bytes": 1,
                      "commit": 100_000}])


def test_recovery_past_shard_99999_still_removes_orphans(store):
    """Numbers grow past five digits: recovery must still tell its own unclaimed shards from a user's files."""
    put_json(store, "_foundry/commits/99999.json",
             {"seq": 99_999, "time": 0.0, "shards": [], "tasks": ["earlier"], "ids": [], "counts": {}})
    write_tasks(store, tasks=TASKS[:2])  # commit 100000
    assert store.list("data/") == ["data/accepted-100000.parquet", "data/rejected-100000.parquet"]
    store.put("data/accepted-100001.parquet", b"a crash left this: no commit record claims it")
    store.put("data/notes-100001.parquet", b"a user's file")
    with ShardWriter(store) as writer:
        assert writer.completed_tasks == {"earlier", *TASKS[:2]}
    assert store.list("data/") == ["data/accepted-100000.parquet", "data/notes-100001.parquet",
                                   "data/rejected-100000.parquet"]
