"""`foundry verify` re-checks existing samples (JSONL and parquet) on the real verifier actors, generating nothing."""

from __future__ import annotations

import glob
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures.engine import campaign_yaml
from typer.testing import CliRunner

from foundry.cli import app

pytestmark = pytest.mark.e2e

ROWS = [
    {"task_id": "a", "completion": "<think>two and two</think>The answer is \\boxed{4}.", "reference": "4"},
    {"task_id": "b", "completion": "<think>hmm</think>The answer is \\boxed{5}.", "reference": "4"},
    {"task_id": "c", "completion": "<think>x</think>\\boxed{\\frac{1}{2}}", "reference": "0.5"},
    {"task_id": "d", "completion": "no reasoning, no box", "reference": "1"},
    {"task_id": "e", "prompt": "no completion at all", "reference": "1"},
]


def run_verify(config, input_path, output):
    return CliRunner().invoke(app, ["verify", str(config), "--input", str(input_path), "--output", str(output)])


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_verify_writes_verdicts_and_a_summary(ray_local, tmp_path, fmt):
    config = campaign_yaml(tmp_path)
    input_path = tmp_path / f"samples.{fmt}"
    if fmt == "jsonl":
        input_path.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "{not json\n")
    else:
        pq.write_table(pa.Table.from_pylist(ROWS), input_path)
    result = run_verify(config, input_path, tmp_path / "checked")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "checked" / "summary.json").read_text())
    assert summary["accepted"] == 2 and summary["rejected"] == 2
    assert summary["input"]["rows"] == len(ROWS) + (fmt == "jsonl")
    assert sum(summary["input"]["skipped"].values()) == 1 + (fmt == "jsonl")
    rows = [r for f in sorted(glob.glob(str(tmp_path / "checked" / "data" / "*.parquet")))
            for r in pq.read_table(f).to_pylist()]
    verdicts = {r["task_id"]: r for r in rows}
    assert verdicts["a"]["accepted"] and verdicts["c"]["accepted"]
    assert not verdicts["b"]["accepted"] and "!= reference" in verdicts["b"]["verdicts"][-1]["reason"]
    assert verdicts["d"]["verdicts"][-1]["reason"]  # rejected by `sections` with a reason, short-circuited


def test_verify_bad_input_exits_2(ray_local, tmp_path):
    config = campaign_yaml(tmp_path)
    result = run_verify(config, tmp_path / "missing.jsonl", tmp_path / "out2")
    assert result.exit_code == 2 and "no such file" in result.output


def test_verify_needs_only_verifiers(ray_local, tmp_path):
    """Re-checking another tool's export: no campaign name, source, engine or output to invent."""
    config = tmp_path / "checks.yaml"
    config.write_text("verifiers:\n  - {kind: length, max_tokens: 48}\n  - {kind: sections}\n"
                      "  - {kind: math, reference_pattern: null}\ncluster: {verifier_workers: 1}\n")
    input_path = tmp_path / "samples.jsonl"
    input_path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    result = run_verify(config, input_path, tmp_path / "checked")
    assert result.exit_code == 0, result.output
    rows = [r for f in sorted(glob.glob(str(tmp_path / "checked" / "data" / "*.parquet")))
            for r in pq.read_table(f).to_pylist()]
    assert {r["task_id"] for r in rows if r["accepted"]} == {"a", "c"}
    assert {r["task_id"] for r in rows if not r["accepted"]} == {"b", "d"}
