"""A real vLLM replica killed, frozen, or with its engine wedged in the middle of a campaign: it is replaced, its
requests re-sent, nothing is lost."""

from __future__ import annotations

import json
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


def bigger_source(tmp_path: Path, copies: int = 3) -> None:
    """The smoke tasks three times over (new ids), so the run is still going after the third fault."""
    source = tmp_path / "data" / "smoke.jsonl"
    rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    source.write_text("".join(json.dumps({**row, "id": f"{row['id']}-{k}"}) + "\n" for k in range(copies)
                              for row in rows))


def replica_pid(pool) -> int:
    return next(n["pid"] for n in pool.nodes() if n["role"] == "replica")


def freeze_replica(pool, frozen: list) -> None:
    """SIGSTOP the whole replica process (engine, event loop, everything), as a wedged driver or GPU would: only the
    health probe can notice."""
    process = psutil.Process(replica_pid(pool))
    frozen.append(process)
    process.send_signal(signal.SIGSTOP)


def wedge_engine(pool, frozen: list) -> None:
    """SIGSTOP only the engine's own processes (EngineCore and its model worker): the replica actor still answers its
    health probe, so only the no-progress watchdog can notice."""
    engine = psutil.Process(replica_pid(pool)).children(recursive=True)
    assert engine, "the vLLM CPU build runs its engine core in child processes of the replica"
    frozen += engine
    for process in engine:
        process.send_signal(signal.SIGSTOP)


def test_killed_frozen_and_wedged_replicas_are_replaced_and_nothing_is_lost(ray_local, tmp_path):
    """One campaign, three faults in turn, each once the replacement of the last has finished tasks: the replica
    killed (as the OOM killer does), then its whole process frozen, then only its engine frozen. Each is noticed by
    its own mechanism, replaced, its requests re-sent; every task's two samples are stored once.

    A fixed budget (2 samples per task, one request each) makes the expected ids exact. Four requests in flight at
    most, so most of the campaign is still ahead at each fault. Half a CPU fits beside the shared engine."""
    path = campaign_yaml(tmp_path, stop_after_accepted=None, max_samples_per_task=None,
                         cluster__max_in_flight_per_replica=4, cluster__replica_num_cpus=0.5,
                         cluster__health_interval_seconds=1, cluster__health_timeout_seconds=5,
                         cluster__request_timeout_seconds=8)
    bigger_source(tmp_path)
    config = load_config(path)
    pool = replica_pool(config)
    pool.nodes()
    first, frozen, injected = pool.replicas[0], [], []
    faults = {4: lambda: ray.kill(first), 12: lambda: freeze_replica(pool, frozen),
              20: lambda: wedge_engine(pool, frozen)}

    def inject(stats):
        fault = faults.pop(stats.tasks_done, None)
        if fault is not None:  # off the driver's loop: these block on Ray and on the process table
            injected.append(stats.tasks_done)
            threading.Thread(target=fault).start()

    try:
        manifest = Campaign(config, replicas=pool, on_progress=inject).run()
    finally:
        pool.shutdown()
        for process in frozen:  # stopped processes ignore everything but SIGKILL: never leave them behind
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
    assert injected == [4, 12, 20] and manifest.runs[-1].replica_restarts == 3, pool.events
    assert pool.replicas[0] is not first
    reasons = " | ".join(pool.events)
    assert "health probe" in reasons and "no request finished" in reasons, reasons
    assert_complete(manifest, config, tmp_path)


def assert_complete(manifest, config, tmp_path: Path) -> None:
    """Every task's two samples stored once: nothing lost, nothing doubled."""
    assert manifest.runs[-1].requests_retried >= 1
    assert manifest.tasks_completed == 48 and manifest.samples == 96
    ids = []
    for shard in (s for s in manifest.shards if s.split in ("accepted", "rejected")):  # not data/tasks-*
        ids += pq.read_table(tmp_path / "out" / shard.path, columns=["id"]).column("id").to_pylist()
    expected = {sample_id(config.name, f"smoke-{i:02d}-{k}", s) for i in range(16) for k in range(3) for s in range(2)}
    assert len(ids) == len(set(ids)) and set(ids) == expected
