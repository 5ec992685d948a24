"""ShardWriter and the commit Journal on both stores: commits, rollover, recovery, conflicts, and kill -9 crashes."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures.crash_writer import (TASKS, assert_exactly_once, committed_sample_ids, synthetic_samples, task_ids,
                                   write_tasks)

from foundry.storage.manifest import COMMITS, STAGING, CommitConflict, Journal, read_manifest
from foundry.storage.s3 import S3Store
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import LocalStore
from foundry.types import Sample

CRASH_WRITER = Path(__file__).parents[1] / "fixtures" / "crash_writer.py"


def rows(store, key: str) -> list[dict]:
    return pq.read_table(io.BytesIO(store.get(key))).to_pylist()


def records(store) -> list[dict]:
    return [json.loads(store.get(key)) for key in store.list(COMMITS)]


class After:
    """A store that runs `action` once, right after the first operation named `op` on a key under `prefix`."""

    def __init__(self, store, op: str, prefix: str, action):
        self.store, self.op, self.prefix, self.action = store, op, prefix, action

    def __getattr__(self, name):
        return getattr(self.store, name)

    def _done(self, op: str, key: str) -> None:
        if self.action and op == self.op and key.startswith(self.prefix):
            action, self.action = self.action, None
            action()

    def put(self, key, data, if_absent=False):
        self.store.put(key, data, if_absent)
        self._done("put", key)

    def copy(self, src, dst):
        self.store.copy(src, dst)
        self._done("copy", dst)

    def list(self, prefix):
        keys = self.store.list(prefix)
        self._done("list", prefix)
        return keys


def test_a_clean_close_commits_shards_records_and_manifest(store, reference_ids):
    write_tasks(store)
    assert_exactly_once(store, reference_ids)
    assert store.list("data/")[:2] == ["data/accepted-00000.parquet", "data/accepted-00001.parquet"]
    first = rows(store, "data/rejected-00000.parquet")
    assert [r["task_id"] for r in first] == ["task-000"] * 2 + ["task-001"] * 2
    assert not any(r["accepted"] for r in first)
    manifest = read_manifest(store)
    assert (manifest.tasks_completed, manifest.accepted, manifest.rejected) == (12, 12, 24)
    assert manifest.commits == 6 and len(manifest.shards) == 12
    written = json.loads(store.get("manifest.json"))  # what readers without Foundry see
    assert (written["schema_version"], written["samples"], written["counts"]) == (2, 36, {"accepted": 12,
                                                                                          "rejected": 24})


def test_shards_roll_over_by_rows_and_keep_each_task_whole(store):
    with ShardWriter(store, max_rows=5, flush_seconds=3600) as writer:
        for task_id in TASKS[:5]:
            writer.add_task(task_id, synthetic_samples(task_id))
    # 2 rejected rows a task: full at 6 >= 5 after the 3rd task, then the close commits the last 2 tasks.
    assert [r["tasks"] for r in records(store)] == [TASKS[:3], TASKS[3:5]]
    assert [len(rows(store, k)) for k in store.list("data/rejected-")] == [6, 4]


def test_shards_roll_over_by_bytes_of_every_field(store):
    """Tool-use samples are mostly `messages`: those bytes must count towards the shard size too."""
    def heavy(task_id: str) -> list[Sample]:
        messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x" * 10_000}]
        return [Sample(id=task_id, task_id=task_id, sample_index=0, messages=messages, accepted=True)]

    with ShardWriter(store, max_rows=10_000, max_bytes=25_000, flush_seconds=3600) as writer:
        for n in range(6):
            writer.add_task(f"t{n}", heavy(f"t{n}"))
    assert [r["tasks"] for r in records(store)] == [["t0", "t1", "t2"], ["t3", "t4", "t5"]]


def test_an_exception_abandons_the_tasks_not_yet_committed(store):
    with pytest.raises(RuntimeError):
        with ShardWriter(store, max_rows=4, flush_seconds=3600) as writer:
            for task_id in TASKS[:3]:  # the first two fill a commit; the third stays buffered
                writer.add_task(task_id, synthetic_samples(task_id))
            raise RuntimeError("the campaign failed")
    with ShardWriter(store) as resumed:
        assert resumed.completed_tasks == set(TASKS[:2])
        assert resumed.committed_ids == set(committed_sample_ids(store))


def test_recover_rolls_forward_a_commit_whose_copy_never_happened(store, reference_ids):
    class Crash(Exception):
        pass

    def crash():
        raise Crash

    with pytest.raises(Crash):
        write_tasks(After(store, "put", f"{COMMITS}00001.json", crash))
    assert store.list("data/") == ["data/accepted-00000.parquet", "data/rejected-00000.parquet"]
    with ShardWriter(store) as resumed:
        assert resumed.completed_tasks == set(TASKS[:4])
    assert store.list("data/") == [f"data/{split}-0000{n}.parquet" for split in ("accepted", "rejected")
                                   for n in (0, 1)]
    write_tasks(store)
    assert_exactly_once(store, reference_ids)


def test_recover_deletes_orphaned_staging_and_unreferenced_data(store, reference_ids):
    write_tasks(store, tasks=TASKS[:4])  # commits 0 and 1
    store.put(f"{STAGING}00001-deadbeef/accepted.parquet", b"lost the race for commit 1")
    store.put(f"{STAGING}00002-deadbeef/accepted.parquet", b"crashed before its commit record")
    store.put("data/accepted-00007.parquet", b"no commit names this")
    with ShardWriter(store):
        pass
    # Commit 1 exists, so its stray staging is debris; 00002 may be a live writer's shard in flight until commit 2.
    assert store.list(STAGING) == [f"{STAGING}00002-deadbeef/accepted.parquet"]
    assert "data/accepted-00007.parquet" not in store.list("data/")
    write_tasks(store)  # its commit 2 sweeps the staging of number 2
    assert_exactly_once(store, reference_ids)


def test_recover_removes_what_interrupted_writes_left(store, tmp_path):
    """A kill -9 mid-put leaves a temp file (local) or an open multipart upload (S3): invisible to readers but
    taking space. Recovery removes those of decided commits and dead writers, and keeps a live writer's."""
    write_tasks(store, tasks=TASKS[:4])  # commits 0 and 1
    debris, kept = f"{STAGING}00001-deadbeef/accepted.parquet", f"{STAGING}00002-cafe0000/accepted.parquet"
    if isinstance(store, S3Store):
        client = store._client
        for key in (debris, kept, "data/accepted-00001.parquet"):
            client.create_multipart_upload(Bucket=store.bucket, Key=store._key(key))

        def open_uploads():
            found = client.list_multipart_uploads(Bucket=store.bucket, Prefix=store._key("")).get("Uploads", [])
            return sorted(u["Key"][len(store._key("")):] for u in found)
    else:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()  # a pid that has just ended
        host = __import__("socket").gethostname()
        for name, pid in ((debris, dead), ("data/accepted-00001.parquet", dead), (kept, os.getpid())):
            path = store.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent / f".tmp-{host}-{pid}-abc_123").write_bytes(b"half a shard")
        (store.root / "data" / ".tmp-elsewhere-1-abcdefgh").write_bytes(b"another machine's write")
        old = store.root / "data" / ".tmp-elsewhere-2-ijklmnop"  # another machine's, untouched for two hours
        old.write_bytes(b"another machine's abandoned write")
        os.utime(old, (time.time() - 7200, time.time() - 7200))

        def open_uploads():
            return sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob(".tmp-*"))
    assert len(open_uploads()) >= 3
    with ShardWriter(store):
        pass
    if isinstance(store, S3Store):
        assert open_uploads() == [kept]  # number 2 is undecided: maybe a live writer's upload
        write_tasks(store)  # commits 2 to 5; at its end number 2 is decided, so its open upload is debris
        assert open_uploads() == []
    else:
        assert open_uploads() == ["_foundry/staging/00002-cafe0000/.tmp-" + f"{host}-{os.getpid()}-abc_123",
                                  "data/.tmp-elsewhere-1-abcdefgh"]


def test_two_writers_on_one_output_conflict_and_commit_nothing_twice(store):
    first, second = ShardWriter(store).__enter__(), ShardWriter(store).__enter__()  # both see an empty output
    first.add_task("task-000", synthetic_samples("task-000"))
    second.add_task("task-000", synthetic_samples("task-000"))
    first.close()
    with pytest.raises(CommitConflict, match="another run is writing to this output"):
        second.close()
    ids = committed_sample_ids(store)
    assert sorted(ids) == sorted(s.id for s in synthetic_samples("task-000"))
    with ShardWriter(store):
        pass
    assert store.list(STAGING) == []


@pytest.mark.parametrize("point", [("put", STAGING), ("put", COMMITS), ("copy", "data/")],
                         ids=["after-staging", "after-record", "mid-copy"])
def test_a_writer_starting_while_another_commits_breaks_nothing(store, point, reference_ids):
    """The second writer's recover() must not delete the first one's staged shards or roll them back."""
    late = ShardWriter(store)
    write_tasks(After(store, *point, late.__enter__))
    assert_exactly_once(store, reference_ids)
    with pytest.raises(CommitConflict):
        late.add_task("task-000", synthetic_samples("task-000"))
        late.flush()


def test_a_commit_landing_while_another_writer_recovers_is_kept(store):
    first = ShardWriter(store, flush_seconds=3600).__enter__()
    first.add_task("task-000", synthetic_samples("task-000"))
    with ShardWriter(After(store, "list", "", first.flush)) as second:  # first commits between recover's listings
        assert second.completed_tasks == {"task-000"}
    assert sorted(committed_sample_ids(store)) == sorted(s.id for s in synthetic_samples("task-000"))


def test_a_retried_commit_record_put_finds_its_own_record(tmp_path):
    """A put whose response was lost is retried by botocore and then meets the record it wrote itself."""
    class LostResponse(LocalStore):
        def put(self, key, data, if_absent=False):
            super().put(key, data, if_absent)
            if if_absent:
                super().put(key, data, if_absent)  # the retry: raises AlreadyExists

    journal = Journal(LostResponse(tmp_path))
    journal.commit({"accepted": b"parquet"}, ["t"], ["id"], {"accepted": 1})
    assert journal.completed_tasks == {"t"}
    assert LocalStore(tmp_path).list("data/") == ["data/accepted-00000.parquet"]


def test_datasets_reads_the_shards_with_nested_messages_and_verdicts(tmp_path, monkeypatch):
    for name, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}.items():
        monkeypatch.setenv(name, value)
    import datasets

    store = LocalStore(tmp_path / "out")
    write_tasks(store, tasks=TASKS[:4])
    data_files = {split: str(tmp_path / "out" / "data" / f"{split}-*.parquet") for split in ("accepted", "rejected")}
    loaded = datasets.load_dataset("parquet", data_files=data_files, cache_dir=str(tmp_path / "cache"))
    assert (loaded["accepted"].num_rows, loaded["rejected"].num_rows) == (4, 8)
    expected = synthetic_samples("task-002")[1]
    row = next(r for r in loaded["rejected"] if r["id"] == expected.id)
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert row["messages"][1]["tool_calls"][0]["function"] == {"name": "python",
                                                              "arguments": '{"code": "print(2 + 2)"}'}
    assert row["messages"][2]["tool_call_id"] == "call-1"
    assert row["verdicts"] == [v.model_dump() for v in expected.verdicts]
    assert row["verdicts"][1]["reason"] == "expected 4, got 5"
    assert json.loads(row["provenance"]["engine_args"]) == {"seed": 0}


@pytest.mark.parametrize("point", ["staged", "committed", "copied"])
def test_kill_9_at_each_step_of_a_commit_then_resume(store, point, request, tmp_path, reference_ids):
    """SIGKILL a real writer process after staging, after the commit record, and mid-copy; the resumed run
    finishes the remaining tasks and the output holds every sample exactly once."""
    output = [store.uri]
    if isinstance(store, S3Store):
        output += ["--endpoint", request.getfixturevalue("s3_server").endpoint_url]
    marker, log = tmp_path / "paused", tmp_path / "writer.log"
    env = {**os.environ, "FOUNDRY_TEST_PAUSE": f"{point}:2", "FOUNDRY_TEST_PAUSE_MARKER": str(marker)}
    with open(log, "wb") as stderr:
        child = subprocess.Popen([sys.executable, str(CRASH_WRITER), *output], env=env, stderr=stderr)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, f"writer exited {child.returncode} early:\n{log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "writer never reached the pause point"
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    data = store.list("data/")
    assert (f"{COMMITS}00002.json" in store.list(COMMITS)) == (point != "staged")
    assert ("data/accepted-00002.parquet" in data, "data/rejected-00002.parquet" in data) == (point == "copied", False)
    write_tasks(store)
    assert_exactly_once(store, reference_ids)


@pytest.mark.parametrize("seed", range(3))
def test_kill_9_at_random_moments_repeatedly_then_resume(store, seed, request, tmp_path):
    """Four SIGKILLs of a longer run, each at a random moment after that run's first commit (whatever the writer
    was doing then), then a resumed run to the end: every sample exactly once, whatever the kills interrupted."""
    rng, tasks = random.Random(seed), task_ids(200)
    expected = {sample.id for task in tasks for sample in synthetic_samples(task)}
    command = [sys.executable, str(CRASH_WRITER), store.uri, "--tasks", str(len(tasks))]
    if isinstance(store, S3Store):
        command += ["--endpoint", request.getfixturevalue("s3_server").endpoint_url]
    log = tmp_path / "writer.log"
    for _ in range(4):
        before = len(store.list(COMMITS))
        with open(log, "wb") as stderr:
            child = subprocess.Popen(command, stderr=stderr)
        try:
            deadline = time.monotonic() + 60
            while len(store.list(COMMITS)) <= before and child.poll() is None:
                assert time.monotonic() < deadline, "the writer made no commit"
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert child.returncode in (-signal.SIGKILL, 0), log.read_text()[-2000:]
    assert len(store.list(COMMITS)) < len(tasks) // 2, "the run ended before the last kill; kill sooner"
    write_tasks(store, tasks)
    assert_exactly_once(store, expected)
