"""End to end on real parts: vLLM (CPU build) on the tiny model, a local Ray instance, parquet shards on disk."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures.engine import campaign_yaml
from math_verify import parse, verify

from foundry.campaign import Campaign, OutputExists
from foundry.config import load_config
from foundry.generators.parsing import extract_answer, split_reasoning
from foundry.types import sample_id

pytestmark = pytest.mark.e2e


def rows(output: Path, split: str | None = None) -> list[dict]:
    """Sample rows of one split, or of both sample splits (data/tasks-* rows are per-task tables)."""
    files = sorted(f for name in ([split] if split else ["accepted", "rejected"])
                   for f in glob.glob(str(output / "data" / f"{name}-*.parquet")))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def smoke_run(replica_pool, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    config = load_config(campaign_yaml(tmp))
    manifest = Campaign(config, replicas=replica_pool).run()
    return config, manifest, tmp / "out"


def test_accepts_some_and_rejects_some(smoke_run):
    config, manifest, out = smoke_run
    accepted, rejected = rows(out, "accepted"), rows(out, "rejected")
    assert accepted and rejected
    assert manifest.accepted == len(accepted) and manifest.rejected == len(rejected)
    assert manifest.tasks_completed == 16
    assert {s.path for s in manifest.shards} == {str(Path(p).relative_to(out)) for p in glob.glob(
        str(out / "data" / "*.parquet"))}
    assert all(r["accepted"] for r in accepted) and not any(r["accepted"] for r in rejected)


def test_verdicts_agree_with_math_verify_on_stored_text(smoke_run):
    config, _, out = smoke_run
    for row in rows(out):
        reasoning, answer = split_reasoning(row["completion"])
        assert (row["reasoning"], row["answer"]) == (reasoning, answer)
        final = extract_answer(answer, ["boxed"])
        assert row["final_answer"] == final
        expected = bool(final) and verify(parse(f"${row['reference']}$"), parse(f"\\boxed{{{final}}}"))
        math_verdict = [v for v in row["verdicts"] if v["verifier"] == "math"]
        assert math_verdict and math_verdict[0]["passed"] == expected
        assert row["accepted"] == expected
        if not row["accepted"]:
            assert all(v["reason"] for v in row["verdicts"] if not v["passed"])


def test_ids_deterministic_unique_and_provenance(smoke_run):
    config, _, out = smoke_run
    found = rows(out)
    ids = [r["id"] for r in found]
    assert len(ids) == len(set(ids))
    for r in found:
        assert r["id"] == sample_id(config.name, r["task_id"], r["sample_index"])
        assert r["provenance"]["config_hash"] == config.config_hash()
        assert r["provenance"]["model"] == "foundry/tiny-random"
        assert json.loads(r["provenance"]["sampling_params"])["max_tokens"] == 48
        assert r["completion_tokens"] > 0 and r["prompt_tokens"] > 0
        assert [v["name"] for v in r["provenance"]["verifiers"]] == ["length", "sections", "math"]


def test_stop_after_accepted_stops_sampling_a_task(smoke_run):
    config, _, out = smoke_run
    by_task: dict[str, list[dict]] = {}
    for r in rows(out):
        by_task.setdefault(r["task_id"], []).append(r)
    for samples in by_task.values():
        samples.sort(key=lambda r: r["sample_index"])
        assert [r["sample_index"] for r in samples] == list(range(len(samples)))
        assert len(samples) <= config.max_samples_per_task
        accepted_before_last_round = sum(r["accepted"] for r in samples[: -config.sampling.n])
        assert accepted_before_last_round < config.stop_after_accepted


def test_datasets_reads_the_shards(smoke_run, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    _, manifest, out = smoke_run
    files = sorted(glob.glob(str(out / "data" / "accepted-*.parquet")))
    dataset = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
    assert len(dataset) == manifest.accepted
    assert dataset[0]["messages"][-1]["role"] == "assistant"
    assert dataset[0]["verdicts"][0]["verifier"] == "length"


def test_ids_stable_across_two_runs(replica_pool, tmp_path):
    """Two fresh runs of a fixed-budget campaign write the same sample ids (content may differ)."""
    sets = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        path = campaign_yaml(tmp_path / name, stop_after_accepted=None, max_samples_per_task=None, sampling__n=3)
        Campaign(load_config(path), replicas=replica_pool).run()
        sets.append({r["id"] for r in rows(tmp_path / name / "out")})
    assert sets[0] == sets[1] and len(sets[0]) == 16 * 3


def test_existing_output_needs_resume(replica_pool, smoke_run):
    config, _, _ = smoke_run
    with pytest.raises(OutputExists):
        Campaign(config, replicas=replica_pool).run()


def test_cli_run_end_to_end(tmp_path):
    """The real front door in its own process: its own Ray instance and engine, exit 0, a manifest."""
    config = campaign_yaml(tmp_path)
    env = {**os.environ, "RAY_ADDRESS": ""}
    result = subprocess.run(
        [sys.executable, "-m", "foundry", "run", str(config), "--set", "cluster.num_cpus=2"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["accepted"] > 0 and manifest["rejected"] > 0
    assert "accepted" in result.stdout
    # The console holds the log's path, the progress display and the report; vLLM's and Ray's chatter is in the log.
    *progress, last = result.stderr.splitlines()
    [log] = glob.glob(str(tmp_path / "out" / "_foundry" / "logs" / "*.log"))
    assert last == f"log: {log}" and 0 < len(progress) <= 12, result.stderr
    assert not [line for line in progress if "WARNING" in line or "INFO" in line or line.startswith("(")]
    text = Path(log).read_text()
    assert "Started a local Ray instance" in text and " pid=" in text  # Ray's own lines, and its actors' stream
    again = subprocess.run(
        [sys.executable, "-m", "foundry", "run", str(config), "--quiet"], capture_output=True, text=True, env=env,
        timeout=120,
    )
    assert again.returncode == 2 and "--resume" in again.stderr
