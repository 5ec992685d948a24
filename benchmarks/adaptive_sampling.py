"""Yield economics: fixed-8 (the open-r1 recipe) against the adaptive sampling policy on tasks of known pass rate.

A simulated engine: every task has a true pass rate drawn from a mixture (40 % near 0: Beta(0.3, 30); 20 % near 1:
Beta(30, 0.3); 40 % spread: Beta(1.5, 1.5)), and its verdicts are a fixed Bernoulli stream per task, so both
policies see the same verdict sequence for a task (common random numbers). Verdicts go through the policy objects
themselves (`SamplingPolicy.start` / `next_n` / `record`), not the Ray driver. The adaptive policy's cap
(`max_samples_per_task`) is the budget dial: "same budget" is the largest cap spending no more samples than
fixed-8, "same yield" the smallest cap whose accepted samples from tasks with true pass rate in [0.1, 0.9] reach
98 % of fixed-8's. Prints JSON.

    .venv/bin/python benchmarks/adaptive_sampling.py [--tasks 2000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from foundry.config.sampling import SamplingPolicyConfig
from foundry.sampling import SamplingPolicy

BAND = (0.1, 0.9)
SPREAD = {"near_0": (0.4, (0.3, 30.0)), "near_1": (0.2, (30.0, 0.3)), "spread": (0.4, (1.5, 1.5))}
_BASE = {"kind": "adaptive", "prior": {"alpha": 0.1, "beta": 0.4}, "stop_hopeless_below": 0.1, "confidence": 0.5,
         "stop_easy_above": None, "prefer": "informative"}
CONFIGS = {"pilot_2": {**_BASE, "pilot": 2}, "pilot_3": {**_BASE, "pilot": 3}}
"""Benchmarked configs, picked by a grid on a separate draw (seed 100, 1,500 tasks: prior mean 0.15-0.3 x weight
0.5-2, pilot 2-4, stop below 0.05-0.15, confidence 0.3-0.5): prior mean 0.2 with the weight of half a sample, stop
once the pass rate is more likely below 0.1 than not. A light prior lets a few failures pull a hopeless task's
posterior mean near 0 (the posterior-mean error is mostly theirs); pilot 2 spends least on hopeless tasks, pilot 3
estimates pass rates better."""
ISSUE_EXAMPLE = {"kind": "adaptive", "pilot": 4, "prior": {"alpha": 1, "beta": 1}, "stop_hopeless_below": 0.05,
                 "stop_easy_above": 0.95, "confidence": 0.05, "prefer": "informative"}
CAPS = range(4, 33)


def population(tasks: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """True pass rates, group labels, and each task's verdict stream."""
    rng = np.random.default_rng(seed)
    names = list(SPREAD)
    groups = rng.choice(len(names), size=tasks, p=[SPREAD[n][0] for n in names])
    rates = np.array([rng.beta(*SPREAD[names[g]][1]) for g in groups])
    streams = [rng.random(max(CAPS)) < p for p in rates]
    return rates, np.array(names)[groups], streams


def simulate(policy: SamplingPolicy, rates: np.ndarray, groups: np.ndarray, streams: list[np.ndarray]) -> dict:
    spent = accepted = in_band = 0
    errors, covered, stops = [], 0, {}
    band = (rates >= BAND[0]) & (rates <= BAND[1])
    for i, stream in enumerate(streams):
        budget = policy.start(str(i))
        while (n := budget.next_n()) > 0:
            budget.record([bool(v) for v in stream[budget.samples:budget.samples + n]])
        row = budget.row()
        spent += budget.samples
        accepted += budget.accepted
        in_band += budget.accepted * bool(band[i])
        errors.append(abs(row["pass_rate"] - rates[i]))
        covered += row["pass_rate_lo"] <= rates[i] <= row["pass_rate_hi"]
        stops[budget.stop_reason] = stops.get(budget.stop_reason, 0) + 1
    errors = np.array(errors)
    return {
        "samples": spent, "accepted": accepted, "accepted_in_band": in_band,
        "samples_per_accepted": round(spent / max(accepted, 1), 4),
        "samples_per_accepted_in_band": round(spent / max(in_band, 1), 4),
        "posterior_mean_abs_error": round(float(errors.mean()), 4),
        "posterior_mean_abs_error_by_group": {g: round(float(errors[groups == g].mean()), 4) for g in SPREAD},
        "interval_90_coverage": round(covered / len(streams), 4), "stop_reasons": stops,
    }


def policy(config: dict, cap: int, n: int) -> SamplingPolicy:
    return SamplingPolicy(SamplingPolicyConfig.model_validate(config), n=n, samples_per_task=cap)


def compare(fixed: dict, adaptive: dict) -> dict:
    return {
        "fewer_samples_per_accepted": round(1 - adaptive["samples_per_accepted"] / fixed["samples_per_accepted"], 4),
        "fewer_samples_per_accepted_in_band": round(
            1 - adaptive["samples_per_accepted_in_band"] / fixed["samples_per_accepted_in_band"], 4),
        "band_yield_vs_fixed": round(adaptive["accepted_in_band"] / fixed["accepted_in_band"], 4),
        "samples_vs_fixed": round(adaptive["samples"] / fixed["samples"], 4),
    }


def targets(point: dict) -> dict:
    versus, run = point["vs_fixed_8"], point["adaptive"]
    return {"fewer_samples_per_accepted_ge_30pct": versus["fewer_samples_per_accepted"] >= 0.30,
            "fewer_samples_per_accepted_in_band_ge_30pct": versus["fewer_samples_per_accepted_in_band"] >= 0.30,
            "band_yield_ge_98pct": versus["band_yield_vs_fixed"] >= 0.98,
            "posterior_error_le_0.08": run["posterior_mean_abs_error"] <= 0.08}


def one_seed(tasks: int, seed: int, n: int) -> dict:
    rates, groups, streams = population(tasks, seed)
    fixed = simulate(policy({"kind": "fixed"}, 8, 8), rates, groups, streams)
    example = simulate(policy(ISSUE_EXAMPLE, 8, n), rates, groups, streams)
    return {"seed": seed, "fixed_8": fixed,
            "issue_example_config_cap_8": {"adaptive": example, "vs_fixed_8": compare(fixed, example)},
            **{name: one_config(config, fixed, rates, groups, streams, n) for name, config in CONFIGS.items()}}


def one_config(config: dict, fixed: dict, rates: np.ndarray, groups: np.ndarray, streams: list[np.ndarray],
               n: int) -> dict:
    sweep = {cap: simulate(policy(config, cap, n), rates, groups, streams) for cap in CAPS}
    budget_cap = max((c for c in CAPS if sweep[c]["samples"] <= fixed["samples"]), default=min(CAPS))
    yield_cap = min((c for c in CAPS if sweep[c]["accepted_in_band"] >= 0.98 * fixed["accepted_in_band"]),
                    default=max(CAPS))
    points = {name: {"max_samples_per_task": cap, "adaptive": sweep[cap], "vs_fixed_8": compare(fixed, sweep[cap])}
              for name, cap in (("same_budget", budget_cap), ("same_yield", yield_cap))}
    for point in points.values():
        point["targets"] = targets(point)
    return {**points, "sweep": {cap: {k: sweep[cap][k] for k in (
        "samples", "accepted_in_band", "samples_per_accepted", "posterior_mean_abs_error")} for cap in CAPS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, default=1, help="adaptive samples per request after the pilot")
    args = parser.parse_args()
    runs = [one_seed(args.tasks, seed, args.n) for seed in range(args.seeds)]
    print(json.dumps({"tasks": args.tasks, "spread": {k: {"share": s, "beta": b} for k, (s, b) in SPREAD.items()},
                      "band": BAND, "adaptive_configs": CONFIGS, "adaptive_n_after_pilot": args.n,
                      "fixed": {"n": 8, "max_samples_per_task": 8}, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
