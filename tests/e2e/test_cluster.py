"""`foundry submit` to a real two-node Ray cluster on loopback: the replica on the GPU node, verifiers on the other.

The head declares one (fake) GPU and one CPU, the worker two CPUs and no GPU. Because the cluster has GPUs, the
replica asks for one in its placement group and must land on the head; that uses the head's only CPU, so the
verifier actors must land on the worker. The campaign is the CPU smoke campaign on the real vLLM CPU engine.
"""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
from fixtures.engine import CONFIGS, campaign_yaml
from fixtures.ray_cluster import LocalRayCluster

from foundry.config import load_config
from foundry.sources import partition_of
from foundry.types import sample_id

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
    nodes = LocalRayCluster()
    try:
        nodes.add_head(num_cpus=1, num_gpus=1)
        nodes.add_worker(num_cpus=2)
        yield nodes
    finally:
        nodes.stop()


def foundry(cluster: LocalRayCluster, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foundry", *args], capture_output=True, text=True,
                          env=cluster.env, timeout=timeout)


@pytest.fixture(scope="module")
def submitted(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    # sample dedup on: the verifier actors on the CPU node screen samples with what the driver put in the object store
    # (the model may write two texts only, so the verifiers accept copies)
    config = campaign_yaml(tmp, quality={"dedup": {"tasks": "none", "samples": "exact"}},
                           generator__structured_outputs__regex=r"<think>ok</think>The answer is \\boxed\{(4|5)\}\.")
    result = foundry(cluster, "submit", str(config), "--address", cluster.dashboard_url, "--wait",
                     "--set", "cluster.verifier_workers=2", "--set", "cluster.price_per_gpu_hour=3.6", timeout=900)
    assert result.returncode == 0, result.stderr[-4000:] + cluster.logs()
    return result, tmp / "out"


def test_submitted_campaign_runs_to_completion(submitted):
    result, out = submitted
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["campaign"] == "cpu-smoke" and manifest["tasks_completed"] == 16
    assert manifest["accepted"] > 0 and manifest["rejected"] > 0
    job_id = result.stdout.strip().splitlines()[0]
    assert job_id.startswith("foundry-cpu-smoke-")
    assert "SUCCEEDED" in result.stderr and "accepted" in result.stderr  # the followed log holds the report
    assert "cost per accepted" in result.stderr


def test_work_ran_on_two_nodes_replica_on_the_gpu_node(submitted, cluster):
    _, out = submitted
    nodes = json.loads((out / "manifest.json").read_text())["runs"][-1]["nodes"]
    replicas = [n for n in nodes if n["role"] == "replica"]
    verifiers = [n for n in nodes if n["role"] == "verifier"]
    assert len(replicas) == 1 and len(verifiers) == 2
    gpu_nodes = {n["node_id"] for n in cluster.alive_nodes() if n["resources_total"].get("GPU")}
    assert replicas[0]["node_id"] in gpu_nodes and replicas[0]["gpus"] == ["0"]
    assert {v["node_id"] for v in verifiers}.isdisjoint(gpu_nodes)  # CPU work on the CPU-only node
    assert len({n["node_id"] for n in nodes}) == 2


def test_samples_screened_on_the_verifier_node_are_deduplicated(submitted):
    """The fingerprints were made by the verifier actors (on the CPU-only node, from the screen the driver put in
    Ray's object store) and are kept in the shards; the driver's index kept each text once."""
    _, out = submitted
    rows = {split: [r for f in sorted(glob.glob(str(out / "data" / f"{split}-*.parquet")))
                    for r in pq.read_table(f).to_pylist()] for split in ("accepted", "rejected")}
    accepted = rows["accepted"]
    assert accepted and all(r["fingerprint"] for r in accepted)
    assert len({r["completion"] for r in accepted}) == len(accepted)
    copies = [r for r in rows["rejected"] if any(v["verifier"] == "dedup" for v in r["verdicts"])]
    assert copies, "the smoke model repeats itself: some accepted-by-the-verifiers samples must be copies"
    ids = {r["id"] for r in accepted}
    assert all(next(v["reason"] for v in r["verdicts"] if v["verifier"] == "dedup").split()[-1] in ids
               for r in copies)


def test_jobs_list_status_logs(submitted, cluster):
    result, _ = submitted
    job_id = result.stdout.strip().splitlines()[0]
    listed = foundry(cluster, "jobs", "list", "--address", cluster.dashboard_url, "--json")
    assert listed.returncode == 0, listed.stderr
    mine = [j for j in json.loads(listed.stdout) if j["id"] == job_id]
    assert mine and mine[0]["status"] == "SUCCEEDED" and mine[0]["campaign"] == "cpu-smoke"
    status = foundry(cluster, "jobs", "status", job_id, "--address", cluster.dashboard_url)
    assert status.returncode == 0 and "SUCCEEDED" in status.stdout
    logs = foundry(cluster, "jobs", "logs", job_id, "--address", cluster.dashboard_url)
    assert logs.returncode == 0 and "accepted" in logs.stdout
    followed = foundry(cluster, "jobs", "logs", job_id, "--follow", "--address", cluster.dashboard_url)
    assert followed.returncode == 0 and "accepted" in followed.stdout  # an ended job: follow prints and returns
    unknown = foundry(cluster, "jobs", "status", "no-such-job", "--address", cluster.dashboard_url)
    assert unknown.returncode == 2 and "no job 'no-such-job'" in unknown.stderr


def test_report_adds_up_against_the_shards(submitted, cluster):
    _, out = submitted
    report = foundry(cluster, "report", str(out), "--json")
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    rows = [r for split in ("accepted", "rejected")  # the sample splits, not data/tasks-*
            for f in sorted(glob.glob(str(out / "data" / f"{split}-*.parquet"))) for r in pq.read_table(f).to_pylist()]
    run = manifest["runs"][-1]
    assert figures["samples"] == len(rows) == run["samples"] == figures["accepted"] + figures["rejected"]
    assert figures["accepted"] == sum(r["accepted"] for r in rows) == run["accepted"]
    assert figures["generated_tokens"] == sum(r["completion_tokens"] for r in rows)
    for name, counts in figures["verifiers"].items():
        verdicts = [v for r in rows for v in r["verdicts"] if v["verifier"] == name]
        assert counts["passed"] == sum(v["passed"] for v in verdicts)
        assert counts["failed"] == sum(not v["passed"] for v in verdicts)
    # one replica holding one GPU for the whole run
    assert run["replicas"] == 1 and run["gpus_per_replica"] == 1
    assert figures["gpu_seconds"] == pytest.approx(run["wall_seconds"], abs=0.01)
    assert figures["gpu_seconds_per_accepted"] == pytest.approx(figures["gpu_seconds"] / figures["accepted"], rel=1e-3)
    # the configured price turns GPU-seconds into money: 3.6 per GPU-hour is 0.001 per GPU-second
    assert figures["cost"] == pytest.approx(run["wall_seconds"] * 0.001, abs=1e-3)
    assert figures["cost_per_accepted"] == pytest.approx(figures["cost"] / figures["accepted"], rel=1e-2)


def test_failed_job_is_a_one_line_failure(cluster, tmp_path):
    config = campaign_yaml(tmp_path)
    result = foundry(cluster, "submit", str(config), "--address", cluster.dashboard_url, "--wait", "--quiet",
                     "--set", "source.path=missing.jsonl", timeout=300)
    assert result.returncode == 1
    assert "FAILED" in result.stderr.splitlines()[-1]


def test_stop_a_running_job(submitted, cluster, tmp_path):
    started = foundry(cluster, "submit", str(campaign_yaml(tmp_path)), "--address", cluster.dashboard_url)
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip()
    stopped = foundry(cluster, "jobs", "stop", job_id, "--wait", "--address", cluster.dashboard_url, timeout=120)
    assert stopped.returncode == 0 and stopped.stdout.split() == [job_id, "STOPPED"]
    status = foundry(cluster, "jobs", "status", job_id, "--address", cluster.dashboard_url)
    assert "STOPPED" in status.stdout


def test_unreachable_cluster_is_a_one_line_failure(cluster, tmp_path):
    result = foundry(cluster, "submit", str(campaign_yaml(tmp_path)), "--address", "http://127.0.0.1:9")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "cannot reach" in result.stderr


def partition_driver(cluster: LocalRayCluster, index: int) -> psutil.Process | None:
    """The driver process of one partition's job: a `foundry run ... --partition I` under the head node."""
    for proc in psutil.Process(cluster.nodes[0].pid).children(recursive=True):
        try:
            line = proc.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "run" in line and line[-2:] == ["--partition", str(index)]:
            return proc
    return None


def test_two_partitions_one_killed_and_resumed_give_the_unpartitioned_ids(cluster, tmp_path):
    # 48 tasks (the smoke prompts under new ids); a fixed budget of 2 samples a task, so which ids an
    # unpartitioned run commits is known whatever the model writes: every task, samples 0 and 1.
    smoke = [json.loads(line) for line in (CONFIGS / "data" / "smoke.jsonl").read_text().splitlines()]
    config = campaign_yaml(tmp_path, stop_after_accepted=None, max_samples_per_task=2, output__shard_max_rows=2,
                           output__flush_seconds=0.5, cluster__max_in_flight_per_replica=1,
                           cluster__replica_num_gpus=0)
    tasks = [{**smoke[i % len(smoke)], "id": f"part-{i:03d}"} for i in range(48)]
    (tmp_path / "data" / "smoke.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    name, out = load_config(config).name, tmp_path / "out"
    expected = {sample_id(name, t["id"], i) for t in tasks for i in range(2)}
    owned = [t["id"] for t in tasks if partition_of(t["id"], 2) == 1]

    started = foundry(cluster, "submit", str(config), "--partitions", "2", "--address", cluster.dashboard_url)
    assert started.returncode == 0, started.stderr
    jobs = started.stdout.split()
    assert len(jobs) == 2 and jobs[0].endswith("-p0of2") and jobs[1].endswith("-p1of2")
    group = jobs[0].removesuffix("-p0of2")

    # kill -9 partition 1's driver once it has committed something, long before it could finish
    deadline = time.monotonic() + 600
    while not glob.glob(str(out / "_foundry" / "commits" / "p1of2-*.json")):
        assert time.monotonic() < deadline, "partition 1 never committed" + cluster.logs()
        time.sleep(0.1)
    driver = partition_driver(cluster, 1)
    assert driver is not None, "no driver process for partition 1"
    driver.kill()
    driver.wait(timeout=30)
    kept = [t for f in glob.glob(str(out / "_foundry" / "commits" / "p1of2-*.json"))
            for t in json.loads(Path(f).read_text())["tasks"]]
    assert 0 < len(kept) < len(owned), "partition 1 finished before it could be killed; slow it down"

    # The other partition runs on to the end; the campaign shows as one, failed, until the lost one is resumed.
    waited = foundry(cluster, "jobs", "status", group, "--address", cluster.dashboard_url)
    assert waited.returncode == 0 and [line.split()[0] for line in waited.stdout.splitlines()] == jobs
    assert submit_wait(cluster, jobs[0]) == "SUCCEEDED" and submit_wait(cluster, jobs[1]) in ("FAILED", "STOPPED")
    listed = json.loads(foundry(cluster, "jobs", "list", "--json", "--address", cluster.dashboard_url).stdout)
    [row] = [r for r in listed if r["id"] == group]
    assert row["status"] == "FAILED" and "p0of2 SUCCEEDED" in row["entrypoint"]

    resumed = foundry(cluster, "submit", str(config), "--partitions", "2", "--partition", "1", "--resume", "--wait",
                      "--quiet", "--address", cluster.dashboard_url, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    [resumed_job] = resumed.stdout.split()
    assert resumed_job.endswith("-p1of2")

    files = {split: sorted(glob.glob(str(out / "data" / f"{split}-*.parquet"))) for split in ("accepted", "rejected")}
    ids = [r["id"] for paths in files.values() for f in paths for r in pq.read_table(f).to_pylist()]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert {Path(f).name.split("-")[1] for paths in files.values() for f in paths} == {"p0of2", "p1of2"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tasks_completed"] == 48 and manifest["samples"] == 96
    runs = [(r["partition"], r["status"], r["tasks_resumed"]) for r in manifest["runs"]]
    assert sorted(runs)[:1] == [("p0of2", "finished", 0)] and ("p1of2", "running", 0) in runs  # the killed one
    assert ("p1of2", "finished", len(kept)) in runs  # the resumed run skipped exactly what was committed
    report = json.loads(foundry(cluster, "report", str(out), "--json").stdout)
    assert report["samples"] == 96 and report["accepted"] + report["rejected"] == 96
    exported = foundry(cluster, "export", str(out), "--format", "rl", "--output", str(tmp_path / "rl"),
                       "--min-pass-rate", "0", "--max-pass-rate", "1")
    assert exported.returncode == 0, exported.stderr
    rl = [r for f in glob.glob(str(tmp_path / "rl" / "**" / "*.parquet"), recursive=True)
          for r in pq.read_table(f).to_pylist()]
    assert len(rl) == 48


def submit_wait(cluster: LocalRayCluster, job_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = foundry(cluster, "jobs", "status", job_id, "--address", cluster.dashboard_url).stdout.split()
        if len(status) > 1 and status[1] in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status[1]
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(1)


def test_a_cluster_python_without_foundry_is_explained(cluster, tmp_path):
    """A node whose `python` lacks foundry (e.g. `ray start` from a venv that was not activated): here the job's
    PATH finds the system Python first."""
    from foundry.cluster.submit import connect, submit, wait

    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to("/usr/bin/python3")
    client = connect(cluster.dashboard_url)
    [job], _ = submit(client, campaign_yaml(tmp_path), workdir=tmp_path / "job",
                      env={"PATH": f"{bare}:/usr/bin:/bin", "PYTHONPATH": "", "VIRTUAL_ENV": ""})
    assert str(wait(client, job, timeout=300).status) == "FAILED"
    status = foundry(cluster, "jobs", "status", job, "--address", cluster.dashboard_url)
    assert status.returncode == 0
    assert status.stdout.startswith(f"{job} FAILED the cluster's Python has no foundry package")
