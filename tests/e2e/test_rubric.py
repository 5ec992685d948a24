"""The rubric verifier with a real vLLM judge: the session's tiny-model replica scores samples as guided JSON."""

from __future__ import annotations

import glob

import pyarrow.parquet as pq
import pytest
from fixtures.engine import campaign_yaml

from foundry.campaign import Campaign
from foundry.config import load_config

pytestmark = pytest.mark.e2e


def test_rubric_judge_scores_every_sample(replica_pool, tmp_path):
    config = load_config(campaign_yaml(tmp_path, "rubric", source__limit=6))
    manifest = Campaign(config, replicas=replica_pool).run()
    rows = [r for split in ("accepted", "rejected")  # the sample splits, not data/tasks-*
            for f in sorted(glob.glob(str(tmp_path / "out" / "data" / f"{split}-*.parquet")))
            for r in pq.read_table(f).to_pylist()]
    assert len(rows) == manifest.samples == 12
    scored = 0
    for row in rows:
        verdicts = {v["verifier"]: v for v in row["verdicts"]}
        if "rubric" not in verdicts:
            assert not verdicts["sections"]["passed"]
            continue
        rubric = verdicts["rubric"]
        # Guided JSON: every judge reply parsed into per-criterion scores, none rejected as unparseable.
        assert "correctness=" in rubric["reason"] and "clarity=" in rubric["reason"], rubric["reason"]
        assert 0.0 <= rubric["score"] <= 1.0
        assert rubric["passed"] == (rubric["score"] >= 0.5) == row["accepted"]
        scored += 1
    assert scored > 0
    version = {v["name"]: v["version"] for v in rows[0]["provenance"]["verifiers"]}["rubric"]
    assert version.startswith("rubric-") and "judge=foundry/tiny-random" in version
