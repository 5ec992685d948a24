"""The campaign's optional stages on the real engine: quality gates before generation and before commit, and the
adaptive sampling policy with its per-task table, in one run of the CPU smoke campaign."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures.engine import CONFIGS, campaign_yaml
from typer.testing import CliRunner

from foundry.campaign import Campaign
from foundry.cli import app
from foundry.config import load_config
from foundry.publish.card import dataset_card
from foundry.report import findings
from foundry.storage.manifest import read_manifest
from foundry.storage.uri import open_store

pytestmark = pytest.mark.e2e


def split_rows(out: Path, split: str) -> list[dict]:
    return [r for f in sorted((out / "data").glob(f"{split}-*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_gates_and_the_adaptive_policy_in_a_real_campaign(replica_pool, tmp_path):
    shutil.copy(CONFIGS / "data" / "gsm8k-test-sample.jsonl", tmp_path / "gsm8k.jsonl")
    gsm8k = [json.loads(line) for line in (tmp_path / "gsm8k.jsonl").read_text().splitlines()[:2]]
    path = campaign_yaml(
        tmp_path,
        quality={"decontaminate": {"benchmarks": [{"name": "gsm8k", "path": "gsm8k.jsonl",
                                                   "fields": {"text": "question", "answer": "answer", "id": "id"}}],
                                   "judge": True},  # gray-zone pairs go to the campaign's own replicas
                 "dedup": {"tasks": "exact", "samples": "exact", "partitions": 2}},  # index over 2 actors
        sampling_policy={"kind": "adaptive", "pilot": 2, "stop_hopeless_below": 0.05, "confidence": 0.5},
    )
    source = tmp_path / "data" / "smoke.jsonl"
    smoke = [json.loads(line) for line in source.read_text().splitlines()]
    leaked = [
        {"id": "leak-verbatim", "prompt": gsm8k[0]["question"], "answer": "18"},
        {"id": "leak-numbers", "prompt": re.sub(r"\d+", lambda m: str(int(m.group()) + 3), gsm8k[1]["question"]),
         "answer": "3"},
        {"id": "repeat-00", "prompt": smoke[0]["prompt"], "answer": smoke[0]["answer"]},
        # GSM8K test item 2 reworded by hand: neither n-grams nor embeddings call it; it is in the judge's gray zone
        {"id": "leak-reworded", "answer": "1", "prompt": (
            "Tomasz chooses to attempt flipping a home. He purchases a home for $91,000 and after that puts in "
            "$62,000 in repairs. This raised the value of the home by 120%. What amount of profit did he earn?")},
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in smoke + leaked))
    manifest = Campaign(load_config(path), replicas=replica_pool).run()
    out = tmp_path / "out"

    # Gated tasks never reached the engine; each is recorded with why.
    excluded = {row["task_id"]: row for row in split_rows(out, "excluded")}
    first: dict[str, str] = {}
    for row in smoke + leaked[2:3]:  # the smoke set repeats prompts itself: the first in source order stays
        first.setdefault(row["prompt"], row["id"])
    repeats = {row["id"]: first[row["prompt"]] for row in smoke + leaked[2:3] if first[row["prompt"]] != row["id"]}
    # The tiny random model judges: what it says is arbitrary, but each call is counted and its "same" decides.
    judged = manifest.runs[-1].decontamination_judge
    by_judge = {task_id for task_id, row in excluded.items() if row["method"] == "judge"}
    assert judged["calls"] >= 1 and len(by_judge) == judged["confirmed"] and by_judge <= {"leak-reworded"}
    assert set(excluded) == {"leak-verbatim", "leak-numbers", *repeats, *by_judge}
    assert all(excluded[i]["duplicate_of"] == of for i, of in repeats.items())
    assert excluded["leak-verbatim"]["benchmark"] == "gsm8k" and excluded["leak-verbatim"]["item_id"] == gsm8k[0]["id"]
    assert excluded["leak-numbers"]["item_id"] == gsm8k[1]["id"]
    assert excluded["repeat-00"]["duplicate_of"] == "smoke-00"
    samples = split_rows(out, "accepted") + split_rows(out, "rejected")
    assert not {s["task_id"] for s in samples} & set(excluded)
    kept = {row["id"] for row in smoke} - set(repeats) | ({"leak-reworded"} - by_judge)
    assert {s["task_id"] for s in samples} == kept  # the reworded task reached the engine unless the judge said so
    assert manifest.tasks_completed == len(smoke + leaked) and manifest.runs[-1].tasks_excluded == len(excluded)

    # Exact sample dedup: no accepted completion twice; each dedup rejection names an accepted sample.
    accepted = split_rows(out, "accepted")
    assert max(Counter(r["completion"] for r in accepted).values()) == 1
    accepted_ids = {r["id"] for r in accepted}
    for row in samples:
        for verdict in row["verdicts"]:
            if verdict["verifier"] == "dedup":
                assert not row["accepted"] and any(i in verdict["reason"] for i in accepted_ids)

    # The report and the card count what the gates did: per benchmark (and method), and the dedup rate.
    report = CliRunner().invoke(app, ["report", str(out), "--json"])
    assert report.exit_code == 0, report.output
    quality = json.loads(report.output)["quality"]
    contaminated = quality["excluded_tasks"]["decontaminate"]
    assert sum(contaminated.values()) == 2 + len(by_judge) and all(key.startswith("gsm8k/") for key in contaminated)
    assert quality["judge"]["calls"] == judged["calls"]
    assert quality["excluded_tasks"]["dedup"] == {"exact": len(repeats)}
    duplicates = sum(any(v["verifier"] == "dedup" for v in s["verdicts"]) for s in samples)
    assert sum(quality["rejected_samples"]["dedup"].values()) == duplicates
    gates = {"dedup", "decontaminate"}
    passed_checks = sum(all(v["passed"] or v["verifier"] in gates for v in s["verdicts"]) for s in samples)
    assert quality["sample_dedup_rate"] == pytest.approx(duplicates / passed_checks, abs=1e-6)
    store = open_store(str(out))
    written = read_manifest(store)
    card = dataset_card(written, found=findings(store, written))
    assert "## Quality gates" in card and f"| task excluded (dedup) | exact | {len(repeats)} |" in card

    # The per-task table agrees with the samples actually stored, and its posterior with Beta(1, 1) + counts.
    tasks = {row["task_id"]: row for row in split_rows(out, "tasks")}
    assert set(tasks) == kept
    per_task = Counter(s["task_id"] for s in samples)
    # the table counts the verifiers' verdicts (the task's difficulty); a dedup hit is a gate, not a failed check
    passed = Counter(s["task_id"] for s in samples
                     if s["accepted"] or any(v["verifier"] == "dedup" for v in s["verdicts"]))
    for task_id, row in tasks.items():
        assert row["samples"] == per_task[task_id] and row["accepted"] == passed[task_id]
        assert row["posterior_alpha"] == 1 + row["accepted"] and row["posterior_beta"] == 1 + row["samples"] - row[
            "accepted"]
        assert row["stop_reason"] in {"accepted", "budget", "hopeless"}
        assert row["pass_rate_lo"] <= row["pass_rate"] <= row["pass_rate_hi"]
