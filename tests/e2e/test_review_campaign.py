"""`foundry review` on what the real CPU engine generated: a person corrects a rejected sample over HTTP, the
correction is verified again by the campaign's own verifiers, compaction commits it, and the report counts it."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pyarrow.parquet as pq
import pytest
from fixtures.engine import campaign_yaml
from review.helpers import review_server

from foundry.campaign import Campaign
from foundry.config import load_config

pytestmark = pytest.mark.e2e


def rows(out, split):
    return [r for f in sorted((out / "data").glob(f"{split}-*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_review_and_correct_a_cpu_engine_campaign(replica_pool, tmp_path):
    Campaign(load_config(campaign_yaml(tmp_path, source__limit=8)), replicas=replica_pool).run()
    out = tmp_path / "out"
    rejected = {r["id"]: r for r in rows(out, "rejected")}
    assert rejected, "the tiny model answers 4 or 5 at random: some of 8 tasks must have a rejected sample"

    with review_server(out, "--queue", "rejected") as (url, _):
        base, token = url.split("#token=")
        headers = {"x-review-token": token, "x-reviewer": "ann"}
        item = httpx.get(f"{base}api/next", headers=headers, timeout=30).json()["item"]
        parent = rejected[item["sample_id"]]
        assert item["reference"] == parent["reference"] and item["suggestions"]["accepted"] is False
        fixed = f"The answer is \\boxed{{{parent['reference']}}}."
        answer = httpx.post(f"{base}api/submit", headers=headers, timeout=60, json={
            "key": "ann-correct-0001", "item_id": item["item_id"], "kind": "correct", "answer": fixed}).json()
        assert answer["corrected_accepted"] is True, answer  # the campaign's length, sections and math verifiers agree
        second = httpx.get(f"{base}api/next", headers=headers, timeout=30).json()["item"]
        if second is not None:
            httpx.post(f"{base}api/submit", headers=headers, timeout=30, json={
                "key": "ann-reject-0002", "item_id": second["item_id"], "kind": "reject", "reason": "wrong-answer"})

    compacted = subprocess.run([sys.executable, "-m", "foundry", "review", str(out), "--compact"],
                               capture_output=True, text=True, timeout=120)
    assert compacted.returncode == 0, compacted.stderr
    (corrected,) = rows(out, "corrected")
    assert corrected["id"] == answer["corrected_id"] and corrected["parent_id"] == parent["id"]
    assert corrected["task_id"] == parent["task_id"] and corrected["reviewer"] == "ann" and corrected["accepted"]
    assert corrected["final_answer"] == parent["reference"] and corrected["parent_hash"]
    assert [v["verifier"] for v in corrected["verdicts"]] == ["length", "sections", "math"]
    assert all(v["passed"] for v in corrected["verdicts"]) and "+The answer is" in corrected["diff"]

    report = subprocess.run([sys.executable, "-m", "foundry", "report", str(out), "--json"],
                            capture_output=True, text=True, timeout=120)
    review = json.loads(report.stdout)["review"]
    assert review["reviews"] == 1 + (second is not None) and review["reviewers"] == 1
    assert review["verifiers"]["math"]["reviewed"] == review["reviews"]  # people rejected what math failed
    assert review["verifiers"]["math"]["agreement"] == 1.0
