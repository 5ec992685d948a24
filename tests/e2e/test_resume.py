"""kill -9 of a real campaign driver (real engine, real Ray, real shards), then `--resume`: nothing lost or doubled."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
from fixtures.engine import campaign_yaml

from foundry.config import load_config
from foundry.report import cost
from foundry.storage.manifest import read_manifest
from foundry.storage.uri import LocalStore
from foundry.types import sample_id

pytestmark = pytest.mark.e2e


def start(config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "foundry", "run", str(config), "--quiet", "--set", "cluster.num_cpus=2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "RAY_ADDRESS": ""},
    )


def kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL the driver and everything it started (its local Ray node and engine), like a lost machine."""
    family = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(timeout=30)
    psutil.wait_procs(family, timeout=30)


def commits(out: Path) -> int:
    return len(glob.glob(str(out / "_foundry" / "commits" / "*.json")))


def wait_for_commits(process: subprocess.Popen, out: Path, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while commits(out) < count:
        assert process.poll() is None, f"driver exited early: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no commits appeared"
        time.sleep(0.2)


def stored_ids(out: Path) -> list[str]:
    """Sample ids in the sample splits (data/tasks-* rows are per-task tables, not samples)."""
    files = sorted(f for split in ("accepted", "rejected") for f in glob.glob(str(out / "data" / f"{split}-*.parquet")))
    return [r["id"] for f in files for r in pq.read_table(f).to_pylist()]


def task_table(out: Path) -> dict[str, dict]:
    """data/tasks-* rows by task id (a task with two rows would be a doubled commit: asserted not to happen)."""
    rows = [r for f in sorted(glob.glob(str(out / "data" / "tasks-*.parquet"))) for r in pq.read_table(f).to_pylist()]
    by_task = {r["task_id"]: r for r in rows}
    assert len(by_task) == len(rows), "a task has two rows in the task table"
    return by_task


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path):
    config_path = campaign_yaml(
        tmp_path, stop_after_accepted=None, max_samples_per_task=None, sampling__n=3, sampling__max_tokens=48,
        output__shard_max_rows=3, output__flush_seconds=0.5, cluster__max_in_flight_per_replica=2,
    )
    config = load_config(config_path)
    out = tmp_path / "out"
    expected = {sample_id(config.name, f"smoke-{t:02d}", i) for t in range(16) for i in range(3)}

    # Killed once some commits landed. (Kills at every step of a commit, and repeated kills at random moments, are
    # tests/storage/test_journal.py's; this one is the whole driver with its own Ray node and engine.)
    started = time.time()
    process = start(config_path)
    wait_for_commits(process, out, 2)
    kill_hard(process)
    lifetimes = [time.time() - started]
    assert commits(out) < 16, "the run finished before it could be killed; slow it down"

    partial = stored_ids(out)
    assert len(partial) == len(set(partial)) and set(partial) < expected
    tables_before = task_table(out)
    assert tables_before and all(row["samples"] == 3 for row in tables_before.values())

    process = start(config_path, "--resume")
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    final = stored_ids(out)
    assert len(final) == len(set(final)), "a sample id was committed twice"
    assert set(final) == expected, f"lost {len(expected - set(final))} samples"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["samples"] == len(expected) and manifest["tasks_completed"] == 16
    # The killed runs left run records (written at start and at each commit): their time counts, up to their last
    # update, and the report says they were killed.
    assert [r["status"] for r in manifest["runs"]] == ["running", "finished"]
    assert manifest["runs"][-1]["tasks_resumed"] > 0
    killed = cost(read_manifest(LocalStore(out)))["runs_not_finished"]
    assert [r["state"] for r in killed] == ["killed"]
    assert all(0 < r["counted_seconds"] <= lifetime for r, lifetime in zip(killed, lifetimes)), (killed, lifetimes)
    assert not glob.glob(str(out / "_foundry" / "staging" / "**" / "*.parquet"), recursive=True)
    # The per-task table: one row per task, the rows committed before the kills exactly as they were (resume reads
    # them, recomputes nothing), and every row counting the samples actually stored for its task.
    tables = task_table(out)
    assert sorted(tables) == [f"smoke-{t:02d}" for t in range(16)]
    assert {task: tables[task] for task in tables_before} == tables_before
    files = [f for split in ("accepted", "rejected") for f in glob.glob(str(out / "data" / f"{split}-*.parquet"))]
    stored = [r for f in files for r in pq.read_table(f, columns=["task_id", "accepted"]).to_pylist()]
    for task, row in tables.items():
        mine = [r for r in stored if r["task_id"] == task]
        assert (row["samples"], row["accepted"]) == (len(mine), sum(r["accepted"] for r in mine)), task
        assert (row["posterior_alpha"], row["posterior_beta"]) == (1 + row["accepted"], 1 + 3 - row["accepted"])


def rows(out: Path, split: str) -> list[dict]:
    return [r for f in sorted(glob.glob(str(out / "data" / f"{split}-*.parquet"))) for r in pq.read_table(f).to_pylist()]


def test_sigkill_then_resume_keeps_the_quality_gates_decisions(tmp_path):
    """Exact sample dedup on a campaign whose model can write only two accepted texts (one per answer): however the
    run is cut, the output holds each text accepted once, every other copy rejected naming a stored accepted sample.
    The resumed run learns the killed run's accepted samples from the shards alone, so its copies of them are
    rejected too; excluded tasks (a benchmark leak, repeated prompts) are recorded once."""
    from fixtures.engine import CONFIGS

    from foundry.quality.dedup import Deduplicator
    from foundry.quality.text import exact_key

    shutil.copy(CONFIGS / "data" / "gsm8k-test-sample.jsonl", tmp_path / "gsm8k.jsonl")
    leak = json.loads((tmp_path / "gsm8k.jsonl").read_text().splitlines()[0])["question"]
    config_path = campaign_yaml(
        tmp_path, stop_after_accepted=1, max_samples_per_task=6, sampling__n=2,
        generator__structured_outputs__regex=r"<think>ok</think>The answer is \\boxed\{(4|5)\}\.",
        output__shard_max_rows=3, output__flush_seconds=0.5, cluster__max_in_flight_per_replica=2,
        quality={"decontaminate": {"benchmarks": [{"name": "gsm8k", "path": "gsm8k.jsonl",
                                                   "fields": {"text": "question", "answer": "answer"}}],
                                   "embedding": False},
                 "dedup": {"tasks": "exact", "samples": "exact"}},
    )
    source = [{"id": f"t{k:02d}", "prompt": f"Task {k}: what is {k % 3 + 1} + {3 - k % 3 + k % 2}?",
               "answer": str(4 + k % 2)} for k in range(30)]
    source += [{"id": "repeat-a", "prompt": source[3]["prompt"], "answer": source[3]["answer"]},
               {"id": "leak", "prompt": leak, "answer": "18"},
               {"id": "repeat-b", "prompt": source[20]["prompt"], "answer": source[20]["answer"]}]
    (tmp_path / "data" / "smoke.jsonl").write_text("".join(json.dumps(row) + "\n" for row in source))
    out = tmp_path / "out"

    process = start(config_path)
    deadline = time.monotonic() + 300
    while commits(out) < 2 or not rows(out, "accepted"):  # killed once an accepted sample is committed
        assert process.poll() is None, f"driver exited early: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no accepted sample was committed"
        time.sleep(0.2)
    kill_hard(process)
    before = {r["id"] for r in rows(out, "accepted") + rows(out, "rejected")}
    accepted_before = {r["id"] for r in rows(out, "accepted")}
    assert len(rows(out, "tasks")) < 30, "the run finished before it could be killed; slow it down"

    process = start(config_path, "--resume")
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]

    accepted, rejected = rows(out, "accepted"), rows(out, "rejected")
    ids = [r["id"] for r in accepted + rejected]
    assert len(ids) == len(set(ids)), "a sample was committed twice"
    excluded = rows(out, "excluded")
    assert sorted(r["task_id"] for r in excluded) == ["leak", "repeat-a", "repeat-b"]  # each once
    assert {r["task_id"] for r in accepted + rejected} == {row["id"] for row in source[:30]}
    texts = [r["completion"] for r in accepted]
    assert len(texts) == len(set(texts)) <= 2, texts  # each text accepted once, over both runs
    accepted_ids = {r["id"] for r in accepted}
    copies = [r for r in rejected if any(v["verifier"] == "dedup" for v in r["verdicts"])]
    for row in copies:
        reason = next(v["reason"] for v in row["verdicts"] if v["verifier"] == "dedup")
        original = re.search(r"of sample (\S+)", reason).group(1)
        assert original in accepted_ids and original != row["id"], reason
    # fingerprints came from the verifier actors and are kept in the shards: the resumed run indexed those
    settings = Deduplicator("exact")
    assert accepted and all(settings.from_bytes(r["fingerprint"]).key == exact_key(r["completion"]) for r in accepted)
    assert copies and all(r["fingerprint"] for r in copies)  # a copy keeps the fingerprint it was found by
    assert all(r["fingerprint"] is None for r in rejected if r not in copies)  # the chain rejected it: not screened
    # the resumed run rejected copies of what the killed run had committed: it rebuilt the index from the shards
    assert any(re.search(r"of sample (\S+)", v["reason"]).group(1) in accepted_before
               for r in copies if r["id"] not in before for v in r["verdicts"] if v["verifier"] == "dedup")
