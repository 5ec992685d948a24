"""Infrastructure failures on real parts are retried or left uncommitted, never committed as rejections.

A judge whose replica is replaced mid-run, a judge endpoint that is not there, and the real S3 server stopped and
restarted in the middle of a campaign.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray
from fixtures.engine import campaign_yaml

from foundry.campaign import Campaign, IncompleteRun
from foundry.cluster.runtime import replica_pool
from foundry.config import load_config
from foundry.storage.uri import open_store

pytestmark = pytest.mark.e2e


def copies_of_source(path: Path, copies: int) -> int:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join(json.dumps({**row, "id": f"{row['id']}-{k}"}) + "\n"
                            for k in range(copies) for row in rows))
    return len(rows) * copies


def local_rows(out: Path) -> list[dict]:
    return [r for split in ("accepted", "rejected") for f in sorted((out / "data").glob(f"{split}-*.parquet"))
            for r in pq.read_table(f).to_pylist()]


def test_a_generator_judge_follows_a_replaced_replica(ray_local, tmp_path):
    """Defect 1: the judge used the replica handles taken at start; after a replacement its calls went to a dead
    actor and became `passed: false`. Now every rubric verdict is a score, and every task is committed."""
    path = campaign_yaml(tmp_path, "rubric", cluster__max_in_flight_per_replica=4, cluster__replica_num_cpus=0.5,
                         cluster__infra_backoff_seconds=0.5)
    tasks = copies_of_source(tmp_path / "data" / "arithmetic.jsonl", 1)  # 32: all but 3 wait for the new replica
    config = load_config(path)
    pool = replica_pool(config)
    pool.nodes()
    first = pool.replicas[0]
    killed = threading.Event()

    def kill_once(stats):
        if stats.tasks_done == 3 and not killed.is_set():
            killed.set()
            threading.Thread(target=ray.kill, args=(first,)).start()

    try:
        manifest = Campaign(config, replicas=pool, on_progress=kill_once).run()
    finally:
        pool.shutdown()
    assert killed.is_set() and pool.restarts == 1
    assert manifest.tasks_completed == tasks
    rubric = [v for row in local_rows(tmp_path / "out") for v in row["verdicts"] if v["verifier"] == "rubric"]
    assert rubric and all("correctness=" in v["reason"] for v in rubric), [v["reason"] for v in rubric][:5]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on return: nothing listens there


def test_an_unreachable_judge_leaves_its_tasks_uncommitted(replica_pool, tmp_path):
    """Defect 1: an unreachable OpenAI-compatible judge used to reject every sample it should have scored."""
    path = campaign_yaml(tmp_path, "rubric", cluster__infra_retries=1, cluster__infra_backoff_seconds=0.05)
    config = load_config(path)
    rubric = next(v for v in config.verifiers if v.kind == "rubric")
    judge = rubric.judge.model_copy(update={"kind": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1",
                                            "model": "judge"})
    config = config.model_copy(update={"verifiers": [
        v if v.kind != "rubric" else v.model_copy(update={"judge": judge}) for v in config.verifiers]})
    with pytest.raises(IncompleteRun, match="--resume") as failure:
        Campaign(config, replicas=replica_pool).run()
    manifest = failure.value.manifest
    rows = local_rows(tmp_path / "out")
    assert not [v for row in rows for v in row["verdicts"] if v["verifier"] == "rubric"]
    run = manifest.runs[-1]
    tasks = len((tmp_path / "data" / "arithmetic.jsonl").read_text().splitlines())
    assert run.tasks_failed_infra > 0 and run.tasks_failed_infra + manifest.tasks_completed == tasks
    assert "judge http://127.0.0.1" in " ".join(run.failures)


def test_a_store_outage_mid_run_is_ridden_out(replica_pool, s3_server, s3_uri, tmp_path):
    """Defect 3: SeaweedFS stopped for 25 s in the middle of a 1,200-task campaign; generation goes on, commits
    retry, and the run finishes with every sample stored exactly once."""
    path = campaign_yaml(tmp_path, output__path=s3_uri, output__endpoint_url=s3_server.endpoint_url,
                         output__shard_max_rows=400, output__flush_seconds=1, output__max_outage_seconds=120)
    tasks = copies_of_source(tmp_path / "data" / "smoke.jsonl", 75)
    config = load_config(path)
    outage, finished = {}, threading.Event()

    def stop_then_restart():
        outage["stopped"] = time.monotonic()
        s3_server.stop()
        time.sleep(25)
        s3_server.start()
        outage["restarted"] = time.monotonic()
        finished.wait()  # the server dies with the thread that started it (parent-death signal): stay until done

    def on_progress(stats):
        if stats.tasks_done >= 200 and "thread" not in outage:
            outage["thread"] = threading.Thread(target=stop_then_restart)
            outage["thread"].start()
            outage["done_at_stop"] = stats.tasks_done

    try:
        manifest = Campaign(config, replicas=replica_pool, on_progress=on_progress).run()
    finally:
        finished.set()
        if "thread" in outage:
            outage["thread"].join()
        s3_server.restart()  # from this thread, which outlives the test, for the session's other tests
    assert outage["done_at_stop"] < tasks and manifest.tasks_completed == tasks
    run = manifest.runs[-1]
    assert run.store_retries > 0
    store = open_store(s3_uri, endpoint_url=s3_server.endpoint_url)
    ids = []
    for shard in (s for s in manifest.shards if s.split in ("accepted", "rejected")):
        ids += pq.read_table(io.BytesIO(store.get(shard.path)), columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == manifest.samples
