"""Live progress figures, the up-front task count, and campaign metrics scraped from Ray's Prometheus endpoint."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from foundry.campaign import RunStats
from foundry.cluster.progress import LiveProgress
from foundry.config import CampaignConfig, SourceConfig
from foundry.sources import count_rows


def campaign(tmp_path, limit=None) -> CampaignConfig:
    return CampaignConfig.model_validate({"name": "p", "source": {"path": str(tmp_path / "s.jsonl"), "limit": limit},
                                          "output": {"path": str(tmp_path / "out")}})


def stats(done: int, tokens: int) -> RunStats:
    found = RunStats(tasks_done=done, samples=2 * done, accepted=done, rejected=done, completion_tokens=tokens)
    found.verifiers = {"length": {"passed": 2 * done, "failed": 0}, "math": {"passed": done, "failed": done}}
    return found


def test_rows_show_done_of_total_eta_verifiers_and_tokens_per_second(tmp_path, monkeypatch):
    clock = iter([100.0, 110.0])
    progress = LiveProgress(campaign(tmp_path), quiet=True, total=100)
    monkeypatch.setattr("foundry.cluster.progress.time.monotonic", lambda: next(clock))
    progress.rows(stats(10, 1000))  # the first finished task starts the clock for rates
    rows = dict(progress.rows(stats(30, 5000)))
    assert rows["tasks"] == "30 / 100  ETA 35s"  # 20 tasks in 10 s, 70 to go
    assert rows["samples"] == "60  accepted 30  rejected 30"
    assert rows["  math"] == "passed 30  failed 30"
    assert rows["tokens/s"] == "400"


def test_rates_run_from_the_first_request_when_known(tmp_path, monkeypatch):
    """A small campaign whose tasks all finish at once must not show the rate of a 0-second window."""
    monkeypatch.setattr("foundry.cluster.progress.time.time", lambda: 1_020.0)
    progress = LiveProgress(campaign(tmp_path), quiet=True, total=40)
    run = stats(10, 2000)
    run.first_request_at = 1_000.0  # 20 s ago
    rows = dict(progress.rows(run))
    assert rows["tokens/s"] == "100" and rows["tasks"] == "10 / 40  ETA 1m00s"


def test_quiet_prints_nothing(tmp_path):
    sink = io.StringIO()
    with LiveProgress(campaign(tmp_path), quiet=True, console=Console(file=sink, force_terminal=True)) as progress:
        progress.update(stats(3, 30))
    assert sink.getvalue() == ""


def test_live_table_is_drawn(tmp_path):
    sink = io.StringIO()
    with LiveProgress(campaign(tmp_path), console=Console(file=sink, force_terminal=True, width=100),
                      total=8) as progress:
        progress.update(stats(3, 30))
    assert "3 / 8" in sink.getvalue() and "accepted 3" in sink.getvalue()


def test_last_frame_ends_its_line_in_a_log(tmp_path):
    sink = io.StringIO()
    with LiveProgress(campaign(tmp_path), console=Console(file=sink, width=100), total=8) as progress:
        progress.update(stats(3, 30))
    assert "3 / 8" in sink.getvalue() and sink.getvalue().endswith("\n")


def test_count_rows(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"prompt": "a"}\n\n{"prompt": "b"}\nnot json\n')
    assert count_rows(SourceConfig(path=str(tmp_path / "s.jsonl"))) == 3
    assert count_rows(SourceConfig(path=str(tmp_path / "s.jsonl"), limit=2)) == 2
    pq.write_table(pa.table({"prompt": ["x"] * 5}), tmp_path / "s.parquet")
    assert count_rows(SourceConfig(path=str(tmp_path / "s.parquet"))) == 5
    assert count_rows(SourceConfig(path="openai/gsm8k", format="hf")) is None
    assert count_rows(SourceConfig(path="openai/gsm8k", format="hf", limit=7)) == 7


SCRAPE = textwrap.dedent("""
    import json, sys, time, urllib.request
    import ray
    from foundry.campaign import RunStats
    from foundry.cluster.metrics import CampaignMetrics

    port = int(sys.argv[1])
    ray.init(num_cpus=1, include_dashboard=False, _metrics_export_port=port,
             _system_config={"metrics_report_interval_ms": 200})
    metrics = CampaignMetrics("m", total_tasks=10)
    stats = RunStats(tasks_done=4, accepted=5, rejected=3, completion_tokens=700, replica_restarts=1)
    stats.verifiers = {"math": {"passed": 5, "failed": 3}}
    metrics.update(stats)
    stats.tasks_done, stats.accepted = 6, 7
    metrics.update(stats, force=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        found = {l.split("{")[0] + "|" + ",".join(sorted(p for p in l.split("{")[1].split("}")[0].split(",")
                 if p.split("=")[0] in ("verdict", "verifier", "result", "outcome"))): float(l.rsplit(" ", 1)[1])
                 for l in body.splitlines() if l.startswith("ray_foundry_")}
        if len(found) >= 7:
            break
        time.sleep(0.5)
    print(json.dumps(found))
    ray.shutdown()
""")


def test_metrics_reach_rays_prometheus_endpoint(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run([sys.executable, "-c", SCRAPE, str(port)], capture_output=True, text=True, timeout=180,
                            env={"RAY_AUTH_MODE": "disabled", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found['ray_foundry_tasks_total|outcome="done"'] == 6
    assert found['ray_foundry_samples_total|verdict="accepted"'] == 7
    assert found['ray_foundry_samples_total|verdict="rejected"'] == 3
    assert found['ray_foundry_verdicts_total|result="failed",verifier="math"'] == 3
    assert found["ray_foundry_generated_tokens_total|"] == 700
    assert found["ray_foundry_replica_restarts_total|"] == 1
    assert found["ray_foundry_tasks_planned|"] == 10


class RecordingCounter:
    def __init__(self):
        self.total = 0

    def inc(self, value, tags):
        self.total += value


def test_the_final_update_is_never_rate_limited():
    from collections import defaultdict

    from foundry.cluster.metrics import CampaignMetrics

    metrics = CampaignMetrics("m", min_interval=3600)
    metrics._metrics = defaultdict(RecordingCounter)  # Ray's Counter stands in: this checks the rate limit only
    run = stats(2, 100)
    metrics.update(run, force=True)
    run.completion_tokens = 150
    metrics.update(run)  # within the interval: skipped
    assert metrics._metrics["tokens"].total == 100
    run.wall_seconds = 12.0  # the campaign's last update
    metrics.update(run)
    assert metrics._metrics["tokens"].total == 150
