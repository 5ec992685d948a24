"""The CPU campaign switched to a code problem set by config alone: real engine, real sandbox, real verdicts."""

from __future__ import annotations

import glob
import re

import pyarrow.parquet as pq
import pytest
from fixtures.engine import campaign_yaml

from foundry.campaign import Campaign
from foundry.config import load_config

pytestmark = pytest.mark.e2e


def test_code_campaign_runs_generated_code_against_tests(replica_pool, tmp_path):
    config = load_config(campaign_yaml(tmp_path, "code-smoke"))
    manifest = Campaign(config, replicas=replica_pool).run()
    rows = [r for split in ("accepted", "rejected")  # the sample splits, not data/tasks-*
            for f in sorted(glob.glob(str(tmp_path / "out" / "data" / f"{split}-*.parquet")))
            for r in pq.read_table(f).to_pylist()]
    assert len(rows) == manifest.samples == 12 * 3
    assert 0 < manifest.accepted < manifest.samples
    for row in rows:
        added = int(re.search(r"return x \+ (\d)", row["completion"]).group(1))
        wanted = int(re.search(r"plus (\d)", row["prompt"]).group(1))
        verdict = row["verdicts"][0]
        assert verdict["verifier"] == "code"
        # The sandbox's verdict matches what the code does: right constant, all tests pass.
        assert verdict["passed"] == (added == wanted) == row["accepted"], verdict
        if not verdict["passed"]:
            assert "expected" in verdict["reason"] or "failed" in verdict["reason"]
