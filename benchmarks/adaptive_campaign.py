"""Yield economics through the real campaign path: fixed-8 and the adaptive configs of `adaptive_sampling.py`, each
run by the real driver on a simulated engine whose tasks have known pass rates.

Everything but the engine is real: the source, the task sampler with its sampling policy, Ray calls to the replica,
the `math` verifier (Math-Verify) in verifier actors, the ShardWriter with the per-task table, the commits. The
engine is a Ray actor with GeneratorReplica's interface: the k-th sample of task t answers `\\boxed{1}` (right) iff
the k-th draw of t's Bernoulli stream is true, the same streams `adaptive_sampling.py` feeds the policy objects. The
figures are read back from the committed task table and samples, and set beside that simulation of the same caps:
the two must agree sample for sample. Prints JSON.

    .venv/bin/python benchmarks/adaptive_campaign.py [--tasks 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from adaptive_sampling import BAND, CONFIGS, SPREAD, one_config, policy, population, simulate

from foundry.cluster.placement import Mailbox
from foundry.generators.engine import GenerationRequest, GenerationResult
from foundry.types import Completion

RIGHT, WRONG = "<think>add</think>The answer is \\boxed{1}.", "<think>add</think>The answer is \\boxed{0}."


class KnownRateReplica(Mailbox):
    """GeneratorReplica's interface, no engine: sample k of task t is right iff streams[t][k]."""

    def __init__(self, streams: list[list[bool]]):
        self.streams = streams

    def node(self) -> dict:
        return {"role": "replica", "replica": "known-rate-0", "pid": os.getpid()}

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        task_id, start, _ = request.request_id.rsplit("-", 2)  # the sampler's "<task>-<samples so far>-<nonce>"
        draws = self.streams[int(task_id[1:])][int(start):int(start) + request.sampling.get("n", 1)]
        completions = [Completion(text=RIGHT if right else WRONG, completion_tokens=12, finish_reason="stop")
                       for right in draws]
        return GenerationResult(request.request_id, "prompt", 8, completions, 0.0, "known-rate-0")

    async def health(self) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def campaign(name: str, sampling_policy: dict, n: int, cap: int, workdir: Path, tasks: int) -> dict:
    from foundry.config import CampaignConfig

    return CampaignConfig.model_validate({
        "name": name,
        "source": {"path": str(workdir / "tasks.jsonl"), "limit": tasks},
        "sampling": {"n": n, "max_tokens": 32},
        "max_samples_per_task": cap,
        **({"sampling_policy": sampling_policy} if sampling_policy["kind"] != "fixed" else {}),
        "verifiers": [{"kind": "math", "reference_pattern": None}],
        "output": {"path": str(workdir / name), "shard_max_rows": 20_000},
        "cluster": {"replicas": 1, "max_in_flight_per_replica": 64, "verifier_workers": 2,
                    "verifier_num_cpus": 0.01},
    })


def run(config, streams: list[list[bool]]) -> tuple[float, Path]:
    import ray

    from foundry.campaign import Campaign
    from foundry.cluster.replicas import ReplicaPool

    actor = ray.remote(KnownRateReplica).options(num_cpus=0, max_concurrency=256)
    pool = ReplicaPool(lambda i: actor.remote(streams), 1, 64)
    start = time.perf_counter()
    Campaign(config, replicas=pool).run()
    seconds = time.perf_counter() - start
    pool.shutdown()
    return seconds, Path(config.output.path)


def read_back(out: Path, rates: np.ndarray, groups: np.ndarray) -> dict:
    """The simulation's figures, from what the campaign committed: task table rows and accepted samples."""
    rows = [r for f in sorted((out / "data").glob("tasks-*.parquet")) for r in pq.read_table(f).to_pylist()]
    accepted = [r["task_id"] for f in sorted((out / "data").glob("accepted-*.parquet"))
                for r in pq.read_table(io.BytesIO(f.read_bytes()), columns=["task_id"]).to_pylist()]
    index = {r["task_id"]: int(r["task_id"][1:]) for r in rows}
    band = (rates >= BAND[0]) & (rates <= BAND[1])
    errors = np.zeros(len(rates))
    for r in rows:
        errors[index[r["task_id"]]] = abs(r["pass_rate"] - rates[index[r["task_id"]]])
    spent = sum(r["samples"] for r in rows)
    stops: dict[str, int] = {}
    for r in rows:
        stops[r["stop_reason"]] = stops.get(r["stop_reason"], 0) + 1
    return {
        "tasks": len(rows), "samples": spent, "accepted": len(accepted),
        "accepted_in_band": sum(bool(band[int(t[1:])]) for t in accepted),
        "table_accepted": sum(r["accepted"] for r in rows),
        "samples_per_accepted": round(spent / max(len(accepted), 1), 4),
        "posterior_mean_abs_error": round(float(errors.mean()), 4),
        "posterior_mean_abs_error_by_group": {g: round(float(errors[groups == g].mean()), 4) for g in SPREAD},
        "interval_90_coverage": round(sum(r["pass_rate_lo"] <= rates[index[r["task_id"]]] <= r["pass_rate_hi"]
                                          for r in rows) / len(rows), 4),
        "stop_reasons": stops,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import ray

    rates, groups, streams = population(args.tasks, args.seed)
    fixed_sim = simulate(policy({"kind": "fixed"}, 8, 8), rates, groups, streams)
    points = [("fixed_8", {"kind": "fixed"}, 8, 8, fixed_sim)]
    for name, config in CONFIGS.items():
        chosen = one_config(config, fixed_sim, rates, groups, streams, 1)
        for point in ("same_budget", "same_yield"):
            cap = chosen[point]["max_samples_per_task"]
            points.append((f"{name}_{point}", config, 1, cap, chosen[point]["adaptive"]))
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with open(workdir / "tasks.jsonl", "w") as handle:
            for i in range(args.tasks):
                handle.write(json.dumps({"id": f"t{i}", "prompt": f"Task {i}: what is 0 + 1?", "answer": "1"}) + "\n")
        as_lists = [[bool(v) for v in stream] for stream in streams]
        for name, sampling_policy, n, cap, simulated in points:
            seconds, out = run(campaign(name, sampling_policy, n, cap, workdir, args.tasks), as_lists)
            real = read_back(out, rates, groups)
            agree = {k: real[k] == simulated[k] for k in ("samples", "accepted", "accepted_in_band",
                                                          "posterior_mean_abs_error")}
            results[name] = {"max_samples_per_task": cap, "seconds": round(seconds, 2),
                             "samples_per_second": round(real["samples"] / seconds, 1), "campaign": real,
                             "simulation_agrees": agree}
    ray.shutdown()
    fixed = results["fixed_8"]["campaign"]
    for name, result in results.items():
        run_ = result["campaign"]
        result["vs_fixed_8"] = {
            "fewer_samples_per_accepted": round(1 - run_["samples_per_accepted"] / fixed["samples_per_accepted"], 4),
            "band_yield_vs_fixed": round(run_["accepted_in_band"] / max(fixed["accepted_in_band"], 1), 4),
            "samples_vs_fixed": round(run_["samples"] / fixed["samples"], 4)}
    print(json.dumps({"benchmark": "adaptive sampling through the real campaign driver, known pass rates",
                      "tasks": args.tasks, "seed": args.seed, "band": BAND, "adaptive_configs": CONFIGS,
                      "runs": results}, indent=1))


if __name__ == "__main__":
    main()
