"""P2: samples/s that one campaign driver sustains with an instant engine and a trivial verifier.

The engine is a Ray actor with GeneratorReplica's interface that answers every request at once with canned
completions, injected through `Campaign(replicas=ReplicaPool(...))`; the verifier is the `length` rule. Everything
else is the real driver: source parsing, request building, Ray actor calls to replicas and verifier actors, sample
building, parquet shards and commits. Ray start-up is excluded; verifier actor start-up and the final commit are
included. `steady` is measured from the first finished task to the last one. Prints JSON.

    .venv/bin/python benchmarks/p2_driver.py [--tasks 20000] [--n 8] [--replicas 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from foundry.cluster.placement import Mailbox
from foundry.generators.engine import GenerationRequest, GenerationResult
from foundry.types import Completion

TEXT = "<think>two and two</think>The answer is \\boxed{4}."


class InstantReplica(Mailbox):
    """GeneratorReplica's interface; no engine: `n` canned completions, immediately."""

    def __init__(self, model: str, engine_args: dict, replica_id: str):
        self.replica_id = replica_id

    def node(self) -> dict:
        return {"role": "replica", "replica": self.replica_id, "pid": os.getpid()}

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        n = request.sampling.get("n", 1)
        completions = [Completion(text=TEXT, completion_tokens=12, finish_reason="stop")] * n
        return GenerationResult(request.request_id, "prompt", 8, completions, 0.0, self.replica_id)

    async def health(self) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def write_source(path: Path, tasks: int) -> None:
    with open(path, "w") as handle:
        for i in range(tasks):
            handle.write(json.dumps({"id": f"t{i}", "prompt": f"What is {i % 7} + {i % 5}?", "answer": "4"}) + "\n")


def one_run(tasks: int, n: int, replicas: int, workdir: Path, args: argparse.Namespace) -> dict:
    import ray

    from foundry.campaign import Campaign
    from foundry.cluster.replicas import ReplicaPool
    from foundry.config import CampaignConfig

    config = CampaignConfig.model_validate({
        "name": "p2",
        "source": {"path": str(workdir / "tasks.jsonl"), "limit": tasks},
        "sampling": {"n": n, "max_tokens": 64},
        "verifiers": [{"kind": "length", "max_tokens": 64}],
        "output": {"path": str(workdir / f"out-{replicas}-{n}-{time.time_ns()}"), "shard_max_rows": 10_000},
        "cluster": {"replicas": replicas, "max_in_flight_per_replica": args.in_flight,
                    "verifier_workers": args.verifier_workers, "verifier_num_cpus": 0.01},
    })
    actor = ray.remote(InstantReplica).options(num_cpus=0, max_concurrency=4 * args.in_flight)
    pool = ReplicaPool(lambda i: actor.remote("instant", {}, f"replica-{i}"), replicas, args.in_flight)
    pool.nodes()
    marks: list[float] = []
    start = time.perf_counter()
    manifest = Campaign(config, replicas=pool, on_progress=lambda stats: marks.append(time.perf_counter())).run()
    seconds = time.perf_counter() - start
    pool.shutdown()
    samples = manifest.samples
    steady = (marks[-1] - marks[0]) if len(marks) > 1 else seconds
    return {"replicas": replicas, "n": n, "tasks": manifest.tasks_completed, "samples": samples,
            "seconds": round(seconds, 3), "samples_per_second": round(samples / seconds, 1),
            "steady_samples_per_second": round(samples * (len(marks) - 1) / len(marks) / steady, 1),
            "shards": len(manifest.shards)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--n", type=int, nargs="+", default=[8], help="samples per request (sampling.n)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--in-flight", type=int, default=64, help="max_in_flight_per_replica")
    parser.add_argument("--verifier-workers", type=int, default=2)
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        write_source(Path(tmp) / "tasks.jsonl", args.tasks)
        for n in args.n:
            for replicas in args.replicas:
                results.append(one_run(args.tasks, n, replicas, Path(tmp), args))
    ray.shutdown()
    print(json.dumps({
        "benchmark": "P2 campaign driver samples/s, instant engine, length verifier",
        "machine": {"cpus": os.cpu_count(), "platform": platform.machine()},
        "in_flight_per_replica": args.in_flight, "verifier_workers": args.verifier_workers,
        "runs": results, "target_samples_per_second": 5000,
    }, indent=2))


if __name__ == "__main__":
    main()
