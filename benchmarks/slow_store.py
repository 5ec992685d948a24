"""Slow store: replica request dispatch while commits run, against the same run with commits on the event loop.

The real driver (`Campaign` with P2's instant replica actors, real Ray, real verifier actors, real ShardWriter on a
local folder) writes to a store whose every `put` sleeps `--delay` seconds (a test double standing in for a 256 MB
shard upload). Small shards make many commits. For each run the script records when every request was dispatched
to the replica pool and when each commit's puts ran, and reports the dispatch rate inside commit windows and
outside them. The anchor, in the same run: the same campaign with the commit run inline on the event loop (what
`writer.add_task` did before the executor). Prints JSON.

    .venv/bin/python benchmarks/slow_store.py [--tasks 6000] [--delay 0.5] [--shard-rows 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from p2_driver import InstantReplica, write_source  # noqa: E402


class SlowPuts:
    """Wraps a store: every put sleeps `delay` seconds first; remembers when each put ran."""

    def __init__(self, store, delay: float):
        self._store, self.delay = store, delay
        self.windows: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def put(self, key, data, if_absent=False):
        start = time.monotonic()
        time.sleep(self.delay)
        result = self._store.put(key, data, if_absent=if_absent)
        with self._lock:
            self.windows.append((start, time.monotonic()))
        return result

    def __getattr__(self, name):
        return getattr(self._store, name)


def one_run(args, workdir: Path, inline: bool) -> dict:
    import ray

    import foundry.campaign as campaign_module
    import foundry.cluster.executor as executor_module
    from foundry.cluster.replicas import ReplicaPool
    from foundry.config import CampaignConfig

    config = CampaignConfig.model_validate({
        "name": "slow-store",
        "source": {"path": str(workdir / "tasks.jsonl"), "limit": args.tasks},
        "sampling": {"n": args.n, "max_tokens": 64},
        "verifiers": [{"kind": "length", "max_tokens": 64}],
        "output": {"path": str(workdir / f"out-{inline}-{time.time_ns()}"), "shard_max_rows": args.shard_rows},
        "cluster": {"replicas": 1, "max_in_flight_per_replica": 64, "verifier_workers": 2,
                    "verifier_num_cpus": 0.01},
    })
    actor = ray.remote(InstantReplica).options(num_cpus=0, max_concurrency=256)
    pool = ReplicaPool(lambda i: actor.remote("instant", {}, f"replica-{i}"), 1, 64)
    pool.nodes()
    dispatched: list[float] = []
    generate = pool.generate

    async def timed_generate(request):
        dispatched.append(time.monotonic())
        return await generate(request)

    pool.generate = timed_generate
    stores: list[SlowPuts] = []
    real_open = campaign_module.open_store

    def slow_open(path, **options):
        stores.append(SlowPuts(real_open(path, **options), args.delay))
        return stores[-1]

    real_durably = executor_module.Executor._durably

    async def inline_durably(self, commit):
        commit()  # the anchor: the commit blocks the event loop, as writer.add_task did

    campaign_module.open_store = slow_open
    if inline:
        executor_module.Executor._durably = inline_durably
    start = time.monotonic()
    try:
        manifest = campaign_module.Campaign(config, replicas=pool).run()
    finally:
        campaign_module.open_store = real_open
        executor_module.Executor._durably = real_durably
        pool.generate = generate
        pool.shutdown()
    end = time.monotonic()
    windows = stores[-1].windows
    first, last = dispatched[0], dispatched[-1]
    inside = [t for t in dispatched if any(a <= t <= b for a, b in windows)]
    window_seconds = sum(min(b, last) - max(a, first) for a, b in windows if b > first and a < last)
    outside_seconds = (last - first) - window_seconds
    return {
        "commits_on": "event loop (anchor)" if inline else "writer thread (executor)",
        "samples": manifest.samples, "commits": manifest.commits, "seconds": round(end - start, 2),
        "requests": len(dispatched), "puts": len(windows),
        "put_seconds_during_dispatch": round(window_seconds, 2),
        "dispatch_per_second_during_puts": round(len(inside) / window_seconds, 1) if window_seconds > 0 else None,
        "dispatch_per_second_otherwise": round((len(dispatched) - len(inside)) / outside_seconds, 1)
        if outside_seconds > 0 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=6000)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds every put sleeps")
    parser.add_argument("--shard-rows", type=int, default=1000)
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        write_source(Path(tmp) / "tasks.jsonl", args.tasks)
        runs = [one_run(args, Path(tmp), inline=False), one_run(args, Path(tmp), inline=True)]
    ray.shutdown()
    print(json.dumps({"benchmark": "request dispatch while commits run, store puts slowed",
                      "machine": {"cpus": os.cpu_count()}, "tasks": args.tasks, "n": args.n,
                      "put_delay_seconds": args.delay, "shard_max_rows": args.shard_rows, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
