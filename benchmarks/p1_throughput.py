"""P1: campaign generated-token throughput divided by raw `vllm.LLM.generate` throughput, measured in one run.

Same model (the tiny random Qwen2 unless --model), same prompts, same max_tokens, ignore_eos=True so every request
generates exactly max_tokens. Engine load time is excluded from both sides; the campaign side includes everything
else: Ray actors, the verifier pool, sample building, verification and parquet commits. Both sides also report the
host CPU time per generated token spent outside the engine's own processes (`VLLM::Worker`, `VLLM::EngineCore`),
from psutil snapshots of this process and all its descendants. Prints JSON.

    .venv/bin/python benchmarks/p1_throughput.py [--prompts 512] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ENGINE_PROCESSES = ("VLLM::Worker", "VLLM::EngineCore")
"""Process titles of the engine's own processes (the model worker and its scheduler)."""
ENGINE = {"dtype": "float32", "max_model_len": 512, "gpu_memory_utilization": 0.2, "enforce_eager": True, "seed": 0}


def _role(proc) -> str:
    """What a process is, by its title: the engine itself, the replica actor, a verifier, the driver, or Ray."""
    import psutil

    try:
        title = " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        return "gone"
    if any(name in title for name in ENGINE_PROCESSES):
        return "engine"
    if proc.pid == os.getpid():
        return "driver"
    for marker, role in (("ReplicaActor", "replica_actor"), ("Verifier", "verifiers")):
        if marker in title:
            return role
    return "ray_and_other"


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of this process and every descendant (Ray's processes, actors, engines)."""
    import psutil

    me = psutil.Process()
    found = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            found[proc.pid] = (_role(proc), times.user + times.system)
        except psutil.Error:
            pass
    return found


def cpu_between(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds by role spent between two snapshots (processes started in between count from zero)."""
    spent: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        spent[role] = spent.get(role, 0.0) + seconds - before.get(pid, (role, 0.0))[1]
    return spent


def outside_engine(spent: dict[str, float], tokens: int) -> dict:
    outside = sum(v for role, v in spent.items() if role not in ("engine", "gone"))
    return {"cpu_seconds_by_process": {k: round(v, 2) for k, v in sorted(spent.items())},
            "cpu_us_per_token_outside_engine": round(outside * 1e6 / tokens, 2)}


def prompts(count: int) -> list[str]:
    return [f"Question {i}: what is {i % 97} plus {i % 13}? Let me think step by step." for i in range(count)]


def raw_vllm(model: str, texts: list[str], max_tokens: int) -> dict:
    from vllm import LLM, SamplingParams

    llm = LLM(model=model, **ENGINE)
    params = SamplingParams(max_tokens=max_tokens, ignore_eos=True, temperature=1.0)
    llm.generate(texts[:8], params, use_tqdm=False)  # warm-up, as the campaign's engine is warm too
    cpu = cpu_snapshot()
    start = time.perf_counter()
    outputs = llm.generate(texts, params, use_tqdm=False)
    seconds = time.perf_counter() - start
    spent = cpu_between(cpu, cpu_snapshot())
    tokens = sum(len(c.token_ids) for o in outputs for c in o.outputs)
    llm.llm_engine.engine_core.shutdown()
    del llm
    return {"seconds": round(seconds, 3), "tokens": tokens, "tokens_per_second": round(tokens / seconds, 1),
            **outside_engine(spent, tokens)}


def campaign(model: str, texts: list[str], max_tokens: int, workdir: Path) -> dict:
    import ray

    from foundry.campaign import Campaign
    from foundry.cluster.replicas import ReplicaPool
    from foundry.cluster.runtime import start_replica
    from foundry.config import CampaignConfig

    source = workdir / "prompts.jsonl"
    source.write_text("".join(json.dumps({"id": f"p{i}", "prompt": t}) + "\n" for i, t in enumerate(texts)))
    config = CampaignConfig.model_validate({
        "name": "p1",
        "source": {"path": str(source)},
        "generator": {"use_chat_template": False},
        "engine": {"model": model, **ENGINE, "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}},
        "sampling": {"n": 1, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 1.0},
        "verifiers": [{"kind": "length", "reject_truncated": False}],
        "output": {"path": str(workdir / "out")},
        "cluster": {"max_in_flight_per_replica": 256, "verifier_workers": 1, "verifier_num_cpus": 0.5},
    })
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    pool = ReplicaPool(lambda i: start_replica(config, i), 1, config.cluster.max_in_flight_per_replica)
    pool.nodes()
    warm = config.model_copy(update={"output": config.output.model_copy(update={"path": str(workdir / "warm")}),
                                     "source": config.source.model_copy(update={"limit": 8})})
    Campaign(warm, replicas=pool).run()
    cpu = cpu_snapshot()
    start = time.perf_counter()
    manifest = Campaign(config, replicas=pool).run()
    seconds = time.perf_counter() - start
    spent = cpu_between(cpu, cpu_snapshot())
    pool.shutdown()
    ray.shutdown()
    run = manifest.runs[-1]
    tokens = run.completion_tokens
    window = run.last_write_at - run.first_request_at
    return {"seconds": round(seconds, 3), "tokens": tokens, "tokens_per_second": round(tokens / seconds, 1),
            "generation_window_seconds": round(window, 3),
            "generation_window_tokens_per_second": round(tokens / window, 1),
            "samples": manifest.samples, "shards": len(manifest.shards), **outside_engine(spent, tokens)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--model", default=None, help="checkpoint path (default: the tiny random model)")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout is for the JSON result
    from foundry.generators.tiny_model import resolve_model

    model = args.model or resolve_model("foundry/tiny-random")
    texts = prompts(args.prompts)
    anchor = raw_vllm(model, texts, args.max_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = campaign(model, texts, args.max_tokens, Path(tmp))
    print(json.dumps({
        "benchmark": "P1 campaign / raw LLM.generate generated-token throughput",
        "model": args.model or "foundry/tiny-random",
        "prompts": args.prompts, "max_tokens": args.max_tokens,
        "machine": {"cpus": os.cpu_count(), "platform": platform.machine()},
        "raw_vllm": anchor, "campaign": pipeline,
        "ratio": round(pipeline["tokens_per_second"] / anchor["tokens_per_second"], 3), "target": 0.97,
        # Host CPU the campaign spends per generated token outside the engine's own processes (replica actor,
        # driver, Ray, verifiers), beside what `LLM.generate`'s own process spends on the same work.
        "cpu_us_per_token_outside_engine": {"campaign": pipeline["cpu_us_per_token_outside_engine"],
                                            "raw_vllm": anchor["cpu_us_per_token_outside_engine"]},
        # The same, counting only first request → last write (no verifier-actor start-up, no manifest write).
        "ratio_generation_window": round(
            pipeline["generation_window_tokens_per_second"] / anchor["tokens_per_second"], 3),
    }, indent=2))


if __name__ == "__main__":
    main()
