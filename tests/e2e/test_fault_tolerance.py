"""A real vLLM replica killed, frozen, or with its engine wedged in the middle of a campaign: it is replaced, its
requests re-sent, nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
import ray
from fixtures.engine import campaign_yaml

from foundry.campaign import Campaign
from foundry.cluster.runtime import replica_pool
from foundry.config import load_config
from foundry.types import sample_id

pytestmark = pytest.mark.e2e


def bigger_source(tmp_path: Path, copies: int = 2) -> None:
    """The smoke tasks twice over (new ids), so the run is still going when the replica dies."""
    source = tmp_path / "data" / "smoke.jsonl"
    rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    source.write_text("".join(json.dumps({**row, "id": f"{row['id']}-{k}"}) + "\n" for k in range(copies)
                              for row in rows))


def fault_campaign(tmp_path: Path, **cluster) -> tuple:
    """The config, a loaded replica pool of its own, and the replica's pid.

    A fixed budget (2 samples per task, one request each) makes the expected ids exact. Four requests in flight at
    most, so after five tasks most of the campaign is still ahead. Half a CPU fits beside the shared engine."""
    path = campaign_yaml(tmp_path, stop_after_accepted=None, max_samples_per_task=None,
                         cluster__max_in_flight_per_replica=4, cluster__replica_num_cpus=0.5,
                         **{f"cluster__{key}": value for key, value in cluster.items()})
    bigger_source(tmp_path)
    config = load_config(path)
    pool = replica_pool(config)
    pid = next(n["pid"] for n in pool.nodes() if n["role"] == "replica")
    return config, pool, pid


def after_five_tasks(fault):
    """An `on_progress` hook that injects `fault` once, when five tasks are done; `hook.done` tells it did."""
    def hook(stats):
        if stats.tasks_done == 5 and not hook.done.is_set():
            hook.done.set()
            fault()

    hook.done = threading.Event()
    return hook


def test_killed_replica_is_replaced_and_nothing_is_lost(ray_local, tmp_path):
    config, pool, _ = fault_campaign(tmp_path)
    first = pool.replicas[0]
    kill = after_five_tasks(lambda: threading.Thread(target=ray.kill, args=(first,)).start())  # as the OOM killer
    try:
        manifest = Campaign(config, replicas=pool, on_progress=kill).run()
    finally:
        pool.shutdown()
    run = manifest.runs[-1]
    assert kill.done.is_set() and run.replica_restarts == 1 and pool.replicas[0] is not first
    assert_complete(manifest, config, tmp_path)


def test_hung_replica_is_replaced_and_nothing_is_lost(ray_local, tmp_path):
    """SIGSTOP freezes the replica process (engine, event loop, everything), as a wedged driver or GPU would: only
    the health probe can notice. The pool must kill it and re-send its requests to a fresh replica."""
    config, pool, pid = fault_campaign(tmp_path, health_interval_seconds=1, health_timeout_seconds=5)
    freeze = after_five_tasks(lambda: os.kill(pid, signal.SIGSTOP))
    try:
        manifest = Campaign(config, replicas=pool, on_progress=freeze).run()
    finally:
        pool.shutdown()
        try:
            os.kill(pid, signal.SIGKILL)  # only if the pool failed to; a frozen process must not outlive the test
        except ProcessLookupError:
            pass
    assert freeze.done.is_set() and manifest.runs[-1].replica_restarts == 1
    assert "health probe" in " ".join(pool.events)
    assert_complete(manifest, config, tmp_path)


def test_wedged_engine_core_is_replaced_and_nothing_is_lost(ray_local, tmp_path):
    """Only the engine's own processes frozen (EngineCore and its model worker), as a wedged GPU would leave them:
    the replica actor still answers its health probe, so only the no-progress watchdog can notice."""
    config, pool, pid = fault_campaign(tmp_path, health_interval_seconds=1, request_timeout_seconds=8)
    engine = psutil.Process(pid).children(recursive=True)
    assert engine, "the vLLM CPU build runs its engine core in child processes of the replica"
    freeze = after_five_tasks(lambda: [process.send_signal(signal.SIGSTOP) for process in engine])
    try:
        manifest = Campaign(config, replicas=pool, on_progress=freeze).run()
    finally:
        pool.shutdown()
        for process in engine:  # stopped processes ignore everything but SIGKILL: never leave them behind
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
    assert freeze.done.is_set() and manifest.runs[-1].replica_restarts == 1
    assert "no request finished" in " ".join(pool.events)
    assert_complete(manifest, config, tmp_path)


def assert_complete(manifest, config, tmp_path: Path) -> None:
    """Every task's two samples stored once: nothing lost, nothing doubled."""
    assert manifest.runs[-1].requests_retried >= 1
    assert manifest.tasks_completed == 32 and manifest.samples == 64
    ids = []
    for shard in (s for s in manifest.shards if s.split in ("accepted", "rejected")):  # not data/tasks-*
        ids += pq.read_table(tmp_path / "out" / shard.path, columns=["id"]).column("id").to_pylist()
    expected = {sample_id(config.name, f"smoke-{i:02d}-{k}", s) for i in range(16) for k in range(2) for s in range(2)}
    assert len(ids) == len(set(ids)) and set(ids) == expected
