"""P2: samples/s that one campaign driver sustains with an instant engine and a trivial verifier.

The engine is a Ray actor with GeneratorReplica's interface that answers every request at once with canned
completions, injected through `Campaign(replicas=ReplicaPool(...))`; the verifier is the `length` rule. Everything
else is the real driver: source parsing, request building, Ray actor calls to replicas and verifier actors, sample
building, parquet shards and commits. Ray start-up is excluded; verifier actor start-up and the final commit are
included. `steady` is measured from the first finished task to the last one. Prints JSON.

`--gates` asks whether the quality gates slow the driver: every completion is then a different random text of 60-140
words (a Zipf vocabulary, as in quality_gates.py's dedup set), and each configuration runs without gates and with
the sample gates (n-gram decontamination of completions against the GSM8K test set in benchmarks/data, then near
dedup at 0.8), one after the other.

    .venv/bin/python benchmarks/p2_driver.py [--tasks 20000] [--n 8] [--replicas 1 2 4] [--gates]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from foundry.cluster.placement import Mailbox
from foundry.generators.engine import GenerationRequest, GenerationResult
from foundry.types import Completion

TEXT = "<think>two and two</think>The answer is \\boxed{4}."
VOCABULARY = [f"v{i}" for i in range(5000)]
WEIGHTS = [1 / (i + 1) for i in range(5000)]
GSM8K = Path(__file__).resolve().parent / "data" / "gsm8k-test.jsonl"


class InstantReplica(Mailbox):
    """GeneratorReplica's interface; no engine: `n` canned completions, immediately."""

    def __init__(self, model: str, engine_args: dict, replica_id: str):
        self.replica_id, self.varied = replica_id, engine_args.get("varied", False)
        self.rng = random.Random(replica_id)

    def _text(self) -> str:
        if not self.varied:
            return TEXT
        words = " ".join(self.rng.choices(VOCABULARY, WEIGHTS, k=self.rng.randint(60, 140)))
        return f"<think>{words}</think>The answer is \\boxed{{4}}."

    def node(self) -> dict:
        return {"role": "replica", "replica": self.replica_id, "pid": os.getpid()}

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        n = request.sampling.get("n", 1)
        completions = [Completion(text=self._text(), completion_tokens=12, finish_reason="stop") for _ in range(n)]
        return GenerationResult(request.request_id, "prompt", 8, completions, 0.0, self.replica_id)

    async def health(self) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def write_source(path: Path, tasks: int) -> None:
    with open(path, "w") as handle:
        for i in range(tasks):
            handle.write(json.dumps({"id": f"t{i}", "prompt": f"What is {i % 7} + {i % 5}?", "answer": "4"}) + "\n")


def one_run(tasks: int, n: int, replicas: int, workdir: Path, args: argparse.Namespace, gates: bool = False) -> dict:
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
        "quality": {"decontaminate": {"benchmarks": [{"name": "gsm8k", "path": str(GSM8K),
                                                      "fields": {"text": "question", "answer": "answer"}}],
                                      "check": ["completion"], "embedding": {"enabled": False}},
                    "dedup": {"samples": "near", "threshold": 0.8}} if gates else None,
    })
    actor = ray.remote(InstantReplica).options(num_cpus=0, max_concurrency=4 * args.in_flight)
    engine_args = {"varied": args.gates}
    pool = ReplicaPool(lambda i: actor.remote("instant", engine_args, f"replica-{i}"), replicas, args.in_flight)
    pool.nodes()
    marks: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    manifest = Campaign(config, replicas=pool, on_progress=lambda stats: marks.append(time.perf_counter())).run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu  # the driver's process (its threads too)
    pool.shutdown()
    samples = manifest.samples
    steady = (marks[-1] - marks[0]) if len(marks) > 1 else seconds
    return {"replicas": replicas, "n": n, "gates": gates, "tasks": manifest.tasks_completed, "samples": samples,
            "rejected_by_gates": {k: v.get("failed", 0) for k, v in manifest.runs[-1].verifiers.items()
                                  if k in ("decontaminate", "dedup")} if gates else None,
            "seconds": round(seconds, 3), "samples_per_second": round(samples / seconds, 1),
            "steady_samples_per_second": round(samples * (len(marks) - 1) / len(marks) / steady, 1),
            "shards": len(manifest.shards), "driver_cpu_us_per_sample": round(cpu / samples * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--n", type=int, nargs="+", default=[8], help="samples per request (sampling.n)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--in-flight", type=int, default=64, help="max_in_flight_per_replica")
    parser.add_argument("--verifier-workers", type=int, default=2)
    parser.add_argument("--gates", action="store_true", help="varied completions; each run without, then with gates")
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        write_source(Path(tmp) / "tasks.jsonl", args.tasks)
        for n in args.n:
            for replicas in args.replicas:
                for gates in ((False, True) if args.gates else (False,)):
                    results.append(one_run(args.tasks, n, replicas, Path(tmp), args, gates))
    ray.shutdown()
    print(json.dumps({
        "benchmark": "P2 campaign driver samples/s, instant engine, length verifier",
        "machine": {"cpus": os.cpu_count(), "platform": platform.machine()},
        "in_flight_per_replica": args.in_flight, "verifier_workers": args.verifier_workers,
        "runs": results, "target_samples_per_second": 5000,
    }, indent=2))


if __name__ == "__main__":
    main()
