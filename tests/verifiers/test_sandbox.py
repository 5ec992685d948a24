"""The sandbox's contract on the real bubblewrap: programs run, results come back, the pool survives its workers.

These tests never skip: bubblewrap is part of the project's set-up, and a missing one must fail loudly.
"""

from __future__ import annotations

import threading

import pytest

from foundry.verifiers import sandbox as sandbox_module
from foundry.verifiers.sandbox import ExecResult, Sandbox, SandboxLimits, SandboxUnavailable


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxLimits(wall_seconds=5)) as box:
        yield box


@pytest.mark.parametrize(
    ("code", "stdin", "exit_code", "stdout", "stderr_tail"),
    [
        ("print(1)", "", 0, "1\n", ""),
        ("print(input()[::-1])", "abc\n", 0, "cba\n", ""),
        ("import sys\nprint(sum(map(int, sys.stdin.read().split())))", "1 2\n3\n", 0, "6\n", ""),
        ("import sys; sys.exit(3)", "", 3, "", ""),
        ("import sys; sys.exit('bye')", "", 1, "", "bye"),
        ("raise SystemExit", "", 0, "", ""),
        ("print('partial'); 1/0", "", 1, "partial\n", "ZeroDivisionError: division by zero"),
        ("def f(:\n  pass", "", 1, "", "SyntaxError: invalid syntax"),
        ("import os; os._exit(7)", "", 7, "", ""),
        ("print('é ✓ 中')", "", 0, "é ✓ 中\n", ""),
        ("import math, collections, typing; print(math.comb(5, 2))", "", 0, "10\n", ""),
        ("print(__name__)", "", 0, "__main__\n", ""),
    ],
)
def test_runs_programs_like_python(sandbox, code, stdin, exit_code, stdout, stderr_tail):
    result = sandbox.run(code, stdin)
    assert (result.exit_code, result.stdout) == (exit_code, stdout), result
    assert result.stderr.strip().endswith(stderr_tail)
    assert not result.timed_out and result.killed_reason is None
    assert result.ok == (exit_code == 0)


def test_traceback_names_the_program_not_the_zygote(sandbox):
    result = sandbox.run("def f():\n    return 1 / 0\nf()")
    assert 'File "program.py", line 2, in f' in result.stderr
    assert "<string>" not in result.stderr


def test_each_run_starts_from_a_fresh_state(sandbox):
    sandbox.run("open('left-over', 'w').write('x'); import sys; sys.modules['math'].pi = 3")
    result = sandbox.run("import os, math; print(os.listdir('.'), math.pi > 3.14)")
    assert result.stdout == "[] True\n"


def test_random_differs_between_runs(sandbox):
    draws = {sandbox.run("import random; print(random.random())").stdout for _ in range(3)}
    assert len(draws) == 3


def test_timeout_is_per_call(sandbox):
    result = sandbox.run("import time; time.sleep(10)", timeout=0.3)
    assert result.timed_out and result.killed_reason == "timeout (0.3 s)"
    assert 0.3 <= result.seconds < 2
    assert sandbox.run("print('next')").stdout == "next\n"


def test_large_stdin_and_program(sandbox):
    numbers = " ".join(str(i) for i in range(200_000))
    program = "# " + "padding " * 200_000 + "\nimport sys\nprint(len(sys.stdin.read().split()))"
    result = sandbox.run(program, numbers)
    assert result.stdout == "200000\n"


def test_two_workers_run_concurrently_without_crosstalk():
    with Sandbox(workers=2) as box:
        outputs: dict[int, ExecResult] = {}

        def worker(offset: int) -> None:
            for i in range(offset, offset + 15):
                outputs[i] = box.run("import time; time.sleep(0.01); print(int(input()) * 2)", f"{i}\n")

        threads = [threading.Thread(target=worker, args=(k * 100,)) for k in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert {i: r.stdout for i, r in outputs.items()} == {i: f"{2 * i}\n" for i in outputs}


def test_closed_sandbox_refuses_work():
    box = Sandbox()
    box.close()
    with pytest.raises(RuntimeError, match="closed"):
        box.run("print(1)")


def test_missing_bubblewrap_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        Sandbox()


def test_unsafe_subprocess_mode_runs_with_limits():
    with Sandbox(SandboxLimits(max_output_bytes=2000), mode="unsafe_subprocess") as box:
        assert box.run("print(input() + '!')", "hi").stdout == "hi!\n"
        assert box.run("while True: pass", timeout=0.3).timed_out
        assert box.run("x = bytearray(10 * 1024**3)").stderr.strip().endswith("MemoryError")
        flood = box.run("while True: print('x' * 100)")
        assert flood.truncated and len(flood.stdout) <= 2000
        assert box.run("import os; print(sorted(os.environ))").stdout == "['HOME', 'LANG', 'PATH', 'TMPDIR']\n"
