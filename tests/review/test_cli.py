"""`foundry review` bad input: one line, exit 2, no traceback; `--compact` from the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from foundry.cli import app
from foundry.review.events import EventLog

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, ["review", *map(str, args)])
    return result.exit_code, result.output


def test_no_manifest_is_bad_input(tmp_path):
    code, text = run(tmp_path)
    assert code == 2 and text.strip() == f"error: {tmp_path}: no manifest.json (not a Foundry campaign output)"


def test_bad_queue_is_bad_input(campaign_output):
    out, _ = campaign_output
    code, text = run(out, "--queue", "newest")
    assert code == 2 and len(text.strip().splitlines()) == 1 and "--queue: 'newest'" in text


def test_broken_manifest_is_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    code, text = run(tmp_path)
    assert code == 2 and "manifest.json: invalid JSON" in text and "Traceback" not in text


def test_unreadable_output_is_one_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    code, text = run(tmp_path / "file")
    assert code == 1 and len(text.strip().splitlines()) == 1 and text.startswith("failed:") and "cannot read" in text


def test_compact_without_a_log_is_bad_input(campaign_output):
    out, _ = campaign_output
    code, text = run(out, "--compact")
    assert code == 2 and "no reviews to compact" in text


def test_compact_reports_what_it_committed(campaign_output, tmp_path):
    out, samples = campaign_output
    log = EventLog(out / "_foundry" / "reviews" / "reviews.sqlite")
    log.add_items([("all/x", next(iter(samples)), "all", 0.0)], 1)
    lease = log.lease("ann")
    log.record("cli-key-0001", lease.item_id, "ann", "accept", {})
    code, text = run(out, "--compact")
    assert code == 0 and "compacted 1 review event(s) and 0 corrected sample(s)" in text
    code, text = run(out, "--compact")
    assert code == 0 and "compacted 0 review event(s)" in text
    assert json.loads((out / "manifest.json").read_text())["counts"]["reviews"] == 1
