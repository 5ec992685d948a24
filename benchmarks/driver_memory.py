"""Driver memory per task over a long campaign, and how soon a resumed run of it sends its first request.

P2's instant engine (a Ray actor answering every request at once) and `length` verifier, through the real driver:
source, executor, Ray calls, shards and commits to a local folder. A sampler thread records the driver's resident
memory (RSS) and the tasks done every `--every` seconds. Bytes per task = the slope of RSS against tasks done over
the second half of the run (after start-up and the first shards), and (last RSS - RSS at 10 % of the run) /
tasks in between. Then the same output is resumed with `--extra` more tasks in the source: the figure is the time
from `Campaign.run()` to the first generation request (commit records read, every committed task skipped).

    .venv/bin/python benchmarks/driver_memory.py [--tasks 2000000] [--n 4] [--extra 1000] [--resume-only]
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

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from p2_driver import InstantReplica, write_source  # noqa: E402


class RssSampler(threading.Thread):
    """(seconds, rss bytes, tasks done) every `every` seconds while the run goes."""

    def __init__(self, every: float, progress: dict):
        super().__init__(daemon=True)
        self.every, self.progress, self.points, self.stopped = every, progress, [], threading.Event()

    def run(self) -> None:
        process, start = psutil.Process(), time.perf_counter()
        while not self.stopped.wait(self.every):
            self.points.append((round(time.perf_counter() - start, 1), process.memory_info().rss,
                                self.progress["done"]))


def campaign(path: Path, tasks: int, n: int, output: Path):
    from foundry.config import CampaignConfig

    return CampaignConfig.model_validate({
        "name": "memory", "source": {"path": str(path), "limit": tasks}, "sampling": {"n": n, "max_tokens": 64},
        "verifiers": [{"kind": "length", "max_tokens": 64}],
        "output": {"path": str(output), "shard_max_rows": 20_000},
        "cluster": {"replicas": 1, "max_in_flight_per_replica": 64, "verifier_workers": 2,
                    "verifier_num_cpus": 0.01},
    })


def run(config, pool, resume: bool, every: float) -> tuple[object, dict, RssSampler]:
    from foundry.campaign import Campaign

    progress = {"done": 0}
    sampler = RssSampler(every, progress)

    def update(stats) -> None:
        progress["done"] = stats.tasks_done

    driver = Campaign(config, replicas=pool, resume=resume, on_progress=update)
    started = time.time()
    sampler.start()
    manifest = driver.run()
    sampler.stopped.set()
    sampler.join()
    return manifest, {"started": started, "stats": driver.stats}, sampler


def slope(points: list[tuple[float, int, int]]) -> float:
    """Least-squares bytes per task over the second half of the samples."""
    half = [(done, rss) for _, rss, done in points[len(points) // 2:]]
    if len(half) < 2:
        return float("nan")
    mean_x = sum(x for x, _ in half) / len(half)
    mean_y = sum(y for _, y in half) / len(half)
    var = sum((x - mean_x) ** 2 for x, _ in half)
    return sum((x - mean_x) * (y - mean_y) for x, y in half) / var if var else float("nan")


def committed_output(output: Path, tasks: int, n: int) -> None:
    """An output as a finished run of `tasks` tasks leaves it, written by the real ShardWriter (same commit records,
    shards of 20,000 rows) from stock samples: what a resumed run reads, without the hour the run itself takes."""
    from foundry.storage.shards import ShardWriter
    from foundry.storage.uri import LocalStore
    from foundry.types import Sample, Verdict, sample_id

    verdict = [Verdict(verifier="length", passed=True, score=1.0, reason="", seconds=0.0)]
    with ShardWriter(LocalStore(output), max_rows=20_000, flush_seconds=3600) as writer:
        for t in range(tasks):
            task = f"t{t}"
            writer.add_task(task, [Sample(id=sample_id("memory", task, i), task_id=task, sample_index=i,
                                          completion="<think>two and two</think>The answer is \\boxed{4}.",
                                          verdicts=verdict, accepted=True) for i in range(n)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2_000_000)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--extra", type=int, default=1000, help="tasks the resumed run finds new in the source")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--resume-only", action="store_true",
                        help="skip the long run: write its output with the real ShardWriter, then time the resume")
    args = parser.parse_args()
    import ray

    from foundry.cluster.replicas import ReplicaPool

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    actor = ray.remote(InstantReplica).options(num_cpus=0, max_concurrency=256)
    pool = ReplicaPool(lambda i: actor.remote("instant", {}, f"replica-{i}"), 1, 64)
    pool.nodes()
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "tasks.jsonl", Path(tmp) / "out"
        write_source(source, args.tasks + args.extra)
        rss_before = psutil.Process().memory_info().rss
        if args.resume_only:
            written = time.perf_counter()
            committed_output(output, args.tasks, args.n)
            print(json.dumps({"output_written_seconds": round(time.perf_counter() - written, 1)}), file=sys.stderr)
        else:
            manifest, first, sampler = run(campaign(source, args.tasks, args.n, output), pool, False, args.every)
            points = sampler.points
            tenth = next((p for p in points if p[2] >= args.tasks // 10), points[0])
            last = points[-1]
            seconds = first["stats"].wall_seconds
        resumed, second, resampler = run(campaign(source, args.tasks + args.extra, args.n, output), pool, True,
                                         args.every)
        stats = second["stats"]
    pool.shutdown()
    ray.shutdown()
    resume = {"tasks_resumed": stats.tasks_resumed, "tasks_done": stats.tasks_done,
              "seconds_to_first_request": round(stats.first_request_at - second["started"], 2)
              if stats.first_request_at else None,
              "rss_mb_peak": round(max((r for _, r, _ in resampler.points), default=0) / 2**20, 1)}
    if args.resume_only:
        print(json.dumps({"benchmark": "resume of an output of committed tasks: time to the first request",
                          "tasks": args.tasks, "n": args.n, "resume": resume,
                          "target_seconds_to_first_request": 30}))
        return
    print(json.dumps({
        "benchmark": "driver memory per task and resume start, instant engine (P2), length verifier",
        "machine": {"cpus": os.cpu_count()}, "n": args.n,
        "run": {"tasks": manifest.tasks_completed, "samples": manifest.samples, "seconds": round(seconds, 1),
                "samples_per_second": round(manifest.samples / seconds, 1),
                "rss_mb_before": round(rss_before / 2**20, 1), "rss_mb_at_10_percent": round(tenth[1] / 2**20, 1),
                "rss_mb_last": round(last[1] / 2**20, 1),
                "bytes_per_task_10_percent_to_end": round((last[1] - tenth[1]) / max(last[2] - tenth[2], 1), 1),
                "bytes_per_task_slope_second_half": round(slope(points), 1),
                "rss_over_time_s_mb_tasks": [[s, round(r / 2**20, 1), d] for s, r, d in
                                             points[::max(1, len(points) // 40)] + points[-1:]]},
        "resume": resume,
        "targets": {"bytes_per_task": 100, "seconds_to_first_request": 30},
    }))


if __name__ == "__main__":
    main()
