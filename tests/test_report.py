"""The cost report: totals over every run in a manifest (a resumed campaign has several)."""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.console import Console

from foundry.campaign import RunStats
from foundry.report import cost, render_report


def run_stats(**values) -> dict:
    """A run entry as the campaign writes it into the manifest (RunStats.as_dict plus source and nodes)."""
    stats = RunStats(**values)
    return {**stats.as_dict(), "source": {"rows": 0}, "nodes": []}


FIRST = run_stats(wall_seconds=100.0, first_request_at=1_000.0, last_write_at=1_075.0, replicas=2, gpus_per_replica=1.0, replica_seconds=200.0,
                  completion_tokens=30_000, verifiers={"length": {"passed": 50, "failed": 10},
                                                       "math": {"passed": 20, "failed": 30}})
SECOND = run_stats(wall_seconds=50.0, first_request_at=2_000.0, last_write_at=2_025.0, replicas=1, gpus_per_replica=4.0, replica_seconds=50.0,
                   completion_tokens=15_000, verifiers={"math": {"passed": 10, "failed": 10}})
MANIFEST = {"campaign": "gsm8k", "samples": 120, "accepted": 30, "rejected": 90, "runs": [FIRST, SECOND]}


def test_run_entries_have_every_field_the_report_reads():
    names = {f.name for f in dataclasses.fields(RunStats)}
    assert {"wall_seconds", "replicas", "gpus_per_replica", "replica_seconds", "completion_tokens",
            "verifiers"} <= names


def test_numbers_add_up_over_two_runs():
    report = cost(MANIFEST)
    assert report["runs"] == 2
    assert report["wall_seconds"] == 150.0
    assert report["gpu_seconds"] == 100 * 2 * 1 + 50 * 1 * 4  # wall × replicas × GPUs per replica
    assert report["replica_seconds"] == 250.0
    assert report["gpu_seconds_per_accepted"] == pytest.approx(400 / 30, abs=1e-4)
    assert report["replica_seconds_per_accepted"] == pytest.approx(250 / 30, abs=1e-4)
    assert report["generated_tokens"] == 45_000
    assert report["tokens_per_second"] == 300.0
    assert report["generation_seconds"] == 100.0  # 75 + 25: first request to last write, start-up left out
    assert report["generation_tokens_per_second"] == 450.0
    assert (report["samples"], report["accepted"], report["rejected"]) == (120, 30, 90)
    assert report["acceptance_rate"] == 0.25
    assert report["verifiers"] == {
        "length": {"passed": 50, "failed": 10, "pass_rate": round(50 / 60, 4)},
        "math": {"passed": 30, "failed": 40, "pass_rate": round(30 / 70, 4)},
    }
    assert "cost" not in report and "cost_per_accepted" not in report


def test_price_per_gpu_hour_gives_money():
    report = cost(MANIFEST, price_per_gpu_hour=2.25)
    assert report["cost"] == pytest.approx(400 / 3600 * 2.25, abs=1e-4)  # 0.25
    assert report["cost_per_accepted"] == pytest.approx(0.25 / 30, abs=1e-6)


def test_cost_per_accepted_is_not_computed_from_a_rounded_cost():
    manifest = {"samples": 4, "accepted": 4, "runs": [run_stats(wall_seconds=10.0, replicas=1, gpus_per_replica=1.0,
                                                                replica_seconds=10.0)]}
    report = cost(manifest, price_per_gpu_hour=1.0)
    assert report["cost_per_accepted"] == pytest.approx(10 / 3600 * 1.0 / 4, abs=1e-6)  # 0.000694, not 0.0007


def test_cpu_runs_cost_nothing_in_gpu_terms():
    manifest = {"samples": 2, "accepted": 1, "runs": [run_stats(wall_seconds=30.0, replicas=2, gpus_per_replica=0.0,
                                                                replica_seconds=60.0)]}
    report = cost(manifest, price_per_gpu_hour=3.0)
    assert report["gpu_seconds"] == 0 and report["cost"] == 0
    assert report["replica_seconds_per_accepted"] == 60.0


def test_an_empty_manifest_has_no_ratios_and_no_division_by_zero():
    report = cost({}, price_per_gpu_hour=1.0)
    assert report["runs"] == 0 and report["wall_seconds"] == 0
    for key in ("acceptance_rate", "tokens_per_second", "gpu_seconds_per_accepted", "cost_per_accepted"):
        assert report[key] is None, key


def test_render_report_shows_every_figure():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(render_report(MANIFEST, price_per_gpu_hour=2.25))
    text = console.file.getvalue()
    assert "campaign gsm8k" in text
    assert "gpu seconds" in text and "400" in text
    assert "45,000" in text
    assert "verifier math" in text and "passed 30  failed 40  (42.9%)" in text
    assert "acceptance rate" in text and "0.25" in text
