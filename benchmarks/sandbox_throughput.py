"""Sandbox throughput: isolated executions per second (wall) and per CPU-second (per core), printed as JSON.

Anchored against a cold `bwrap python` start with the same isolation in the same run. CPU time counts this process
and every sandbox process it started (zygotes and their reaped children), so the per-core figure does not depend
on how busy the rest of the machine is. Run: .venv/bin/python benchmarks/sandbox_throughput.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from foundry.config import CodeTestVerifierConfig
from foundry.types import Sample
from foundry.verifiers import sandbox as sandbox_module
from foundry.verifiers.code import CodeTestVerifier
from foundry.verifiers.sandbox import Sandbox

TICK = os.sysconf("SC_CLK_TCK")
SUM_PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"


def tree_cpu_seconds() -> float:
    """CPU of this process (all threads) plus all live descendants, including the children they reaped."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total, frontier = usage.ru_utime + usage.ru_stime, [os.getpid()]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        total += sum(times[pid] for pid in children)
        frontier = children
    return total


def measure(work, threads: int) -> dict[str, float]:
    """Run `work()` in `threads` threads; wall and CPU seconds of the whole process tree."""
    cpu, wall = tree_cpu_seconds(), time.perf_counter()
    runners = [threading.Thread(target=work) for _ in range(threads)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": tree_cpu_seconds() - cpu}


def trivial(workers: int, executions: int) -> dict[str, float]:
    with Sandbox(workers=workers) as box:
        box.run("print(1)")  # warm
        per_thread = executions // workers

        def work() -> None:
            for _ in range(per_thread):
                assert box.run("print(1)").stdout == "1\n"

        timing = measure(work, workers)
    return report(per_thread * workers, timing)


def fifty_cases(workers: int, problems: int) -> dict[str, float]:
    tests = {"stdin_stdout": [{"input": f"{i} {i * 7}\n", "output": f"{i * 8}\n"} for i in range(50)]}
    sample = Sample(id="s", task_id="t", sample_index=0, completion=SUM_PROGRAM, tests=tests)
    verifier = CodeTestVerifier(CodeTestVerifierConfig(workers=workers))
    try:
        assert verifier.verify(sample).passed  # warm

        def work() -> None:
            for _ in range(problems):
                assert verifier.verify(sample).passed

        timing = measure(work, 1)  # one sample at a time; its 50 cases spread over the workers
    finally:
        verifier.close()
    return {"problems_per_s": round(problems / timing["wall_s"], 2), **report(problems * 50, timing)}


def cold(runs: int) -> dict[str, float]:
    """`bwrap ... python -I -S -c 'print(1)'` from scratch each time: the same isolation, no zygote.

    Wall clock only: bwrap's inner processes are not all waited for, so RUSAGE_CHILDREN undercounts their CPU.
    """
    argv = sandbox_module._bwrap_command(sandbox_module.SandboxLimits()).argv
    argv = argv[: argv.index("-c") + 1] + ["print(1)"]
    wall = time.perf_counter()
    for _ in range(runs):
        assert subprocess.run(argv, capture_output=True, env={"PATH": "/usr/bin:/bin"}).stdout == b"1\n"
    wall = time.perf_counter() - wall
    return {
        "executions": runs,
        "wall_s": round(wall, 3),
        "executions_per_s": round(runs / wall, 1),
        "ms_per_execution": round(1000 * wall / runs, 2),
    }


def report(executions: int, timing: dict[str, float]) -> dict[str, float]:
    return {
        "executions": executions,
        "wall_s": round(timing["wall_s"], 3),
        "executions_per_s": round(executions / timing["wall_s"], 1),
        "cpu_s": round(timing["cpu_s"], 3),
        "executions_per_cpu_s": round(executions / timing["cpu_s"], 1),
        "ms_per_execution": round(1000 * timing["wall_s"] / executions, 2),
    }


def main() -> None:
    result = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0], "load_avg_1m": os.getloadavg()[0]},
        "cold_bwrap_python_print_1": cold(60),
        "warm_print_1": {"workers_1": trivial(1, 1000), "workers_2": trivial(2, 1000)},
        "stdin_stdout_50_cases": {"workers_1": fifty_cases(1, 10), "workers_2": fifty_cases(2, 10)},
    }
    result["machine"]["load_avg_1m_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
