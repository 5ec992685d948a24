"""The cost report: totals over every run in a manifest (a resumed campaign has several)."""

from __future__ import annotations

import io
import json
import time

import pytest
from fixtures.crash_writer import TASKS, synthetic_samples, write_tasks
from rich.console import Console

from foundry.campaign import RunStats
from foundry.report import cost, render_report
from foundry.storage.records import Manifest, RunRecord, write_run_record
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import LocalStore


def run_stats(**values) -> RunRecord:
    """A finished run's record, as the campaign writes it."""
    return RunRecord(status="finished", source={"rows": 0}, **values)


def manifest(samples: int = 0, accepted: int = 0, runs: list | None = None, **values) -> Manifest:
    return Manifest(counts={"accepted": accepted, "rejected": samples - accepted}, runs=runs or [], **values)


FIRST = run_stats(wall_seconds=100.0, first_request_at=1_000.0, last_write_at=1_075.0, replicas=2, gpus_per_replica=1.0, replica_seconds=200.0,
                  completion_tokens=30_000, verifiers={"length": {"passed": 50, "failed": 10},
                                                       "math": {"passed": 20, "failed": 30}})
SECOND = run_stats(wall_seconds=50.0, first_request_at=2_000.0, last_write_at=2_025.0, replicas=1, gpus_per_replica=4.0, replica_seconds=50.0,
                   completion_tokens=15_000, verifiers={"math": {"passed": 10, "failed": 10}})
MANIFEST = manifest(120, 30, [FIRST, SECOND], campaign="gsm8k")


def test_run_stats_is_the_run_record_model():
    assert RunStats is RunRecord
    assert {"wall_seconds", "replicas", "gpus_per_replica", "replica_seconds", "completion_tokens",
            "verifiers", "tasks_failed_infra", "infra_retries"} <= set(RunRecord.model_fields)


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
    report = cost(manifest(4, 4, [run_stats(wall_seconds=10.0, replicas=1, gpus_per_replica=1.0,
                                            replica_seconds=10.0)]), price_per_gpu_hour=1.0)
    assert report["cost_per_accepted"] == pytest.approx(10 / 3600 * 1.0 / 4, abs=1e-6)  # 0.000694, not 0.0007


def test_cpu_runs_cost_nothing_in_gpu_terms():
    report = cost(manifest(2, 1, [run_stats(wall_seconds=30.0, replicas=2, gpus_per_replica=0.0,
                                            replica_seconds=60.0)]), price_per_gpu_hour=3.0)
    assert report["gpu_seconds"] == 0 and report["cost"] == 0
    assert report["replica_seconds_per_accepted"] == 60.0


def test_an_empty_manifest_has_no_ratios_and_no_division_by_zero():
    report = cost(Manifest(), price_per_gpu_hour=1.0)
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


# --- killed runs -------------------------------------------------------------------------------------------------

def report_json(output) -> tuple[int, dict | str]:
    from typer.testing import CliRunner

    from foundry.cli import app

    result = CliRunner().invoke(app, ["report", str(output), "--json"])
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else result.stderr


def test_a_killed_run_counts_its_gpu_time_to_its_last_update(tmp_path):
    """Run 1 starts (record written), commits, and is killed with -9 before it ends; run 2 resumes and finishes.
    The report counts run 1's time to its last update: 600 s on 2 replicas of 4 GPUs, plus run 2's 100 s on 1."""
    store = LocalStore(tmp_path / "out")
    killed = RunRecord(campaign="c", started_at=time.time() - 600, replicas=2, gpus_per_replica=4.0)
    write_run_record(store, killed)  # at start
    writer = ShardWriter(store, max_rows=4, flush_seconds=3600).__enter__()
    for task in TASKS[:2]:
        writer.add_task(task, synthetic_samples(task))  # the second task fills a commit
    killed.tasks_done = 2
    write_run_record(store, killed)  # after the commit; then the process dies: no end, no manifest

    code, before_resume = report_json(store.uri)
    assert code == 0 and before_resume["runs"] == 1
    assert before_resume["gpu_seconds"] == pytest.approx(600 * 2 * 4, abs=8 * 5)
    assert before_resume["accepted"] == 2 and before_resume["rejected"] == 4

    resumed = RunRecord(campaign="c", started_at=time.time() - 100, replicas=1, gpus_per_replica=1.0)
    write_run_record(store, resumed)
    write_tasks(store, tasks=TASKS[:4])
    resumed.status, resumed.wall_seconds, resumed.ended_at = "finished", 100.0, time.time()
    write_run_record(store, resumed)
    with ShardWriter(store, manifest_extra={"campaign": "c"}):
        pass  # the resumed run closes: manifest.json lists both runs

    written = json.loads(store.get("manifest.json"))
    assert [r["status"] for r in written["runs"]] == ["running", "finished"]
    code, report = report_json(store.uri)
    assert code == 0 and report["runs"] == 2 and report["accepted"] == 4
    assert report["gpu_seconds"] == pytest.approx(600 * 2 * 4 + 100, abs=8 * 5)
    assert report["wall_seconds"] == pytest.approx(700, abs=5)
    [unfinished] = report["runs_not_finished"]
    assert unfinished["run_id"] == killed.run_id and unfinished["state"] == "killed"


def test_the_report_says_which_runs_did_not_finish(tmp_path):
    now = 100_000.0
    runs = [RunRecord(run_id="killed", started_at=1_000.0, updated_at=1_500.0),
            RunRecord(run_id="done", status="finished", started_at=2_000.0, wall_seconds=10.0),
            RunRecord(run_id="silent", started_at=3_000.0, updated_at=3_100.0)]
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(render_report(manifest(runs=runs), now=now))
    text = console.file.getvalue()
    assert "run killed" in text and "killed: never recorded an end" in text and "500 s" in text
    assert "run silent" in text and "no update for a while" in text
    assert "run done" not in text
    fresh = cost(manifest(runs=[RunRecord(run_id="live", started_at=now - 60, updated_at=now - 5)]), now=now)
    assert fresh["runs_not_finished"][0]["state"] == "running" and fresh["wall_seconds"] == 55.0


def test_infrastructure_failures_are_reported():
    runs = [run_stats(wall_seconds=1.0, tasks_failed_infra=3), run_stats(wall_seconds=1.0, tasks_failed_infra=2)]
    assert cost(manifest(runs=runs))["tasks_failed_infra"] == 5


def test_report_on_a_broken_manifest_is_one_line_exit_2(tmp_path):
    store = LocalStore(tmp_path / "out")
    store.put("manifest.json", json.dumps({"schema_version": 2, "runs": [{"replicas": "two"}]}).encode())
    code, stderr = report_json(store.uri)
    assert code == 2
    assert stderr == f"error: {store.uri}/manifest.json: runs.0.replicas: Input should be a valid integer, unable to " \
                     "parse string as an integer\n"


def test_run_resuming_an_output_with_a_broken_manifest_is_one_line_exit_2(tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    import foundry.cluster.runtime as runtime
    from foundry.cli import app

    monkeypatch.setattr(runtime, "init_ray", lambda *a, **k: pytest.fail("the run started Ray"))
    (tmp_path / "tasks.jsonl").write_text('{"prompt": "p"}\n')
    store = LocalStore(tmp_path / "out")
    store.put("manifest.json", b'{"schema_version": 2, "counts": {"accepted": "many"}}')
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump({"name": "t", "source": {"path": "tasks.jsonl"}, "output": {"path": "out"}}))
    result = CliRunner().invoke(app, ["run", "-q", str(config), "--resume"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: {store.uri}/manifest.json: counts.accepted: Input should be a valid integer, "
                             "unable to parse string as an integer\n")


def gated_output(path) -> LocalStore:
    """Two tasks a gate kept from the GPU and three samples: accepted, a duplicate of it, and a wrong answer."""
    from foundry.quality import EXCLUDED_SCHEMA
    from foundry.types import Sample, Verdict

    def excluded(task_id, gate, method, benchmark=None):
        return {"task_id": task_id, "prompt": "p", "gate": gate, "reason": f"{benchmark} item 7" if benchmark else
                "exact copy of t0", "method": method, "score": 1.0, "benchmark": benchmark,
                "item_id": "7" if benchmark else None, "duplicate_of": None if benchmark else "t0"}

    def sample(index, checks):
        verdicts = [Verdict(verifier=name, passed=ok, score=float(ok), reason="" if ok else reason)
                    for name, ok, reason in checks]
        return Sample(id=f"s{index}", task_id="t0", sample_index=index, prompt="p", completion="c",
                      verdicts=verdicts, accepted=all(v.passed for v in verdicts))

    store = LocalStore(path)
    with ShardWriter(store, schemas={"excluded": EXCLUDED_SCHEMA}) as writer:
        writer.add_task("leak", [], {"excluded": [excluded("leak", "decontaminate", "ngram", "gsm8k")]})
        writer.add_task("again", [], {"excluded": [excluded("again", "dedup", "exact")]})
        writer.add_task("t0", [sample(0, [("math", True, "")]),
                               sample(1, [("math", True, ""), ("dedup", False, "exact duplicate of s0")]),
                               sample(2, [("math", False, "wrong answer")])])
    return store


def test_the_report_and_card_count_what_the_gates_did(tmp_path):
    from typer.testing import CliRunner

    from foundry.cli import app
    from foundry.publish.card import dataset_card
    from foundry.report import findings
    from foundry.storage.manifest import read_manifest

    store = gated_output(tmp_path / "out")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["quality"] == {
        "excluded_tasks": {"decontaminate": {"gsm8k/ngram": 1}, "dedup": {"exact": 1}},
        "rejected_samples": {"decontaminate": {}, "dedup": {"exact": 1}},
        "sample_dedup_rate": 0.5,  # one duplicate of the two samples the verifiers passed
    }
    table = CliRunner().invoke(app, ["report", str(tmp_path / "out")]).output
    assert "tasks excluded by decontaminate" in table and "gsm8k/ngram 1" in table and "50.00%" in table
    manifest = read_manifest(store)
    card = dataset_card(manifest, found=findings(store, manifest))
    assert "| task excluded (decontaminate) | gsm8k/ngram | 1 |" in card
    assert "| sample rejected (dedup) | exact | 1 |" in card and "Sample dedup rate: 50.00%" in card
    assert "## Quality gates" not in dataset_card(read_manifest(store))
