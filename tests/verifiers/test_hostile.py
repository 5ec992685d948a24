"""Hostile programs: every one ends in a clean rejection with a reason, and the sandbox's limits demonstrably hold.

Runs on the real bubblewrap sandbox (never skipped). Each program below is what a careless or adversarial model
could write; the assertions check what the host sees afterwards, not just that nothing crashed.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from foundry.config import CodeTestVerifierConfig
from foundry.types import Sample
from foundry.verifiers import sandbox as sandbox_module
from foundry.verifiers.code import CodeTestVerifier
from foundry.verifiers.sandbox import Sandbox, SandboxLimits

PROJECT = Path(__file__).resolve().parents[2]
LIMITS = SandboxLimits(max_processes=16, max_file_mb=4, memory_mb=256, max_output_bytes=64_000, wall_seconds=2)

LIST_PIDS = "import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(LIMITS) as box:
        yield box


def only_sandbox_processes(box: Sandbox) -> bool:
    """True when the pid namespace holds just bwrap (1), the zygote (2) and the child listing it."""
    pids = eval(box.run(LIST_PIDS).stdout)
    return pids[:2] == [1, 2] and len(pids) == 3


# --- the limits, observed from inside and from the host -------------------------------------------------------


def test_endless_loop_is_killed_at_the_wall_clock(sandbox):
    result = sandbox.run("while True: pass", timeout=0.5)
    assert result.timed_out and result.exit_code == -9
    assert only_sandbox_processes(sandbox)


def test_cpu_limit_kills_a_busy_program():
    with Sandbox(SandboxLimits(cpu_seconds=1, wall_seconds=10)) as box:
        result = box.run("while True: pass")
    assert result.killed_reason == "cpu limit (1 s)" and not result.timed_out
    assert 1 <= result.seconds < 10  # CPU time, not the 10 s wall clock, ended it


def test_sleeping_forever_is_killed(sandbox):
    result = sandbox.run("import time; time.sleep(10**6)", timeout=0.3)
    assert result.timed_out and result.killed_reason.startswith("timeout")


def test_printing_forever_is_capped_and_killed(sandbox):
    result = sandbox.run("import sys\nwhile True: sys.stdout.write('y' * 4096); sys.stderr.write('z')")
    assert result.truncated and result.killed_reason == f"output limit ({LIMITS.max_output_bytes} bytes)"
    assert len(result.stdout) + len(result.stderr) <= LIMITS.max_output_bytes


def test_fork_bomb_is_bounded_by_nproc(sandbox):
    program = (
        "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            time.sleep(60); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print(n, e.errno)"
    )
    forks, errno = map(int, sandbox.run(program).stdout.split())
    assert errno == 11 and forks < LIMITS.max_processes  # EAGAIN: the uid's process budget is spent
    assert only_sandbox_processes(sandbox)  # the 60 s sleepers did not outlive the run


def test_classic_fork_bomb_ends_and_the_pool_still_works(sandbox):
    result = sandbox.run("import os\nwhile True: os.fork()", timeout=1)
    assert result.exit_code != 0
    assert only_sandbox_processes(sandbox)
    assert sandbox.run("print('ok')").stdout == "ok\n"


def test_allocating_10_gb_fails_with_memory_error(sandbox):
    result = sandbox.run("x = bytearray(10 * 1024**3)")
    assert result.exit_code == 1 and result.stderr.strip().endswith("MemoryError")


def test_huge_file_stops_at_the_file_size_limit(sandbox):
    program = (
        "f = open('big', 'wb')\ntry:\n    while True: f.write(b'x' * 65536); f.flush()\n"
        "except OSError as e:\n    import os; print(e.errno, os.path.getsize('big') // 2**20)"
    )
    errno, megabytes = map(int, sandbox.run(program).stdout.split())
    assert errno == 27 and megabytes == LIMITS.max_file_mb  # EFBIG


def test_tmp_is_bounded_in_total(sandbox):
    program = (
        "i = 0\ntry:\n    while True:\n        open(f'f{i}', 'wb').write(b'x' * 2**21); i += 1\n"
        "except OSError as e:\n    print(e.errno, i)"
    )
    errno, files = map(int, sandbox.run(program).stdout.split())
    assert errno == 28 and files * 2 <= LIMITS.tmp_mb  # ENOSPC: the private tmpfs is full, not the host's disk
    assert sandbox.run("import os; print(os.listdir('/tmp'))").stdout == "[]\n"


def test_no_network_not_even_to_the_host_loopback(sandbox):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        program = (
            "import socket\nfor address in [('127.0.0.1', %d), ('1.1.1.1', 53)]:\n"
            "    try:\n        socket.create_connection(address, timeout=1); print('connected')\n"
            "    except OSError as e:\n        print(type(e).__name__)" % port
        )
        result = sandbox.run(program)
        assert "connected" not in result.stdout and result.stdout.count("Error") == 2, result
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever reached the host's listener
    finally:
        listener.close()


def test_host_environment_is_invisible(monkeypatch):
    monkeypatch.setenv("FOUNDRY_TEST_SECRET", "s3cr3t-value")
    program = (
        "import os, glob\nseen = [str(dict(os.environ))]\nfor path in glob.glob('/proc/*/environ'):\n"
        "    try:\n        seen.append(open(path, 'rb').read().decode(errors='replace'))\n"
        "    except OSError:\n        pass\nprint('s3cr3t' in ' '.join(seen), sorted(os.environ))"
    )
    with Sandbox(LIMITS) as box:
        seen, names = box.run(program).stdout.split(" ", 1)
    assert seen == "False" and set(eval(names)) <= {"HOME", "LANG", "PATH", "PWD", "TMPDIR"}


def test_host_files_are_invisible(sandbox, tmp_path):
    marker = tmp_path / "host-secret.txt"
    marker.write_text("secret")
    prefix = os.path.realpath(sys.base_prefix)  # the interpreter, mounted read-only at its own path
    program = f"""
import os
print(os.path.exists({str(PROJECT)!r}), os.path.exists({str(marker)!r}), os.path.exists('/home'))
found = []
for root, dirs, files in os.walk('/root'):
    dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith({prefix!r})]
    found += [os.path.join(root, name) for name in files]
print(found, sorted(os.listdir('/')))
"""
    result = sandbox.run(program)
    assert result.stdout.splitlines()[0] == "False False False"
    assert result.stdout.splitlines()[1].startswith("[] ")  # nothing of root's home but the interpreter
    assert "work" not in result.stdout.splitlines()[1]


def test_deleting_everything_leaves_the_host_untouched(sandbox, tmp_path):
    marker = tmp_path / "keep.txt"
    marker.write_text("still here")
    program = (
        "import os, shutil\nfor top in os.listdir('/'):\n"
        "    if top not in ('proc', 'dev', 'sys'): shutil.rmtree('/' + top, ignore_errors=True)\n"
        "os.system('rm -rf --no-preserve-root / 2>/dev/null')"
    )
    sandbox.run(program, timeout=2)
    assert marker.read_text() == "still here"
    assert (PROJECT / "foundry" / "verifiers" / "sandbox.py").exists()
    assert Path(sys.base_prefix, "lib", "python3.11", "os.py").exists()
    assert sandbox.run("print('alive')").stdout == "alive\n"  # the read-only interpreter survived too


def test_proc_shows_no_host_process(sandbox):
    program = (
        "import os\nfor pid in sorted(p for p in os.listdir('/proc') if p.isdigit()):\n"
        "    try:\n        print(pid, open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')[0].decode())\n"
        "    except OSError:\n        print(pid, '?')"
    )
    lines = sandbox.run(program).stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("1 ") and "pytest" not in " ".join(lines)


def test_program_cannot_reach_the_zygote(sandbox):
    program = (
        "import os\nprint(sorted(os.listdir('/proc/self/fd')))\n"
        "for what in ('fd', 'mem', 'environ'):\n"
        "    try:\n        os.listdir(f'/proc/{os.getppid()}/fd') if what == 'fd' else "
        "open(f'/proc/{os.getppid()}/{what}', 'rb').read(1)\n        print(what, 'open')\n"
        "    except OSError as e:\n        print(what, type(e).__name__)"
    )
    lines = sandbox.run(program).stdout.splitlines()
    assert lines[0] == "['0', '1', '2', '3']"  # stdin, stdout, stderr, and listdir's own handle: no host channel
    assert lines[1:] == ["fd PermissionError", "mem PermissionError", "environ PermissionError"]


def test_killing_the_parent_is_survived_by_the_pool(sandbox):
    result = sandbox.run("import os; os.kill(os.getppid(), 9)")
    assert result.exit_code is None and result.killed_reason.startswith("sandbox died")
    assert sandbox.run("print('replaced')").stdout == "replaced\n"


def test_stopping_the_parent_hits_the_host_deadline(monkeypatch):
    monkeypatch.setattr(sandbox_module, "GRACE_SECONDS", 0.5)
    with Sandbox(LIMITS) as box:
        result = box.run("import os, signal; os.kill(os.getppid(), signal.SIGSTOP)", timeout=0.5)
        assert result.killed_reason == "sandbox died: no answer before the deadline"
        assert box.run("print('fresh')").stdout == "fresh\n"


@pytest.mark.parametrize("main_waits", [False, True], ids=["main-exits", "main-times-out"])
def test_setsid_double_fork_escapees_are_killed(sandbox, main_waits):
    program = (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        while True:\n            open('/tmp/escaped', 'a').write('x'); time.sleep(0.01)\n"
        "    os._exit(0)\ntime.sleep(0.2)\n" + ("time.sleep(60)\n" if main_waits else "")
    )
    result = sandbox.run(program, timeout=0.5)
    assert result.timed_out == main_waits
    assert only_sandbox_processes(sandbox)
    assert sandbox.run("import os; print(os.path.exists('/tmp/escaped'))").stdout == "False\n"


def test_shared_memory_does_not_outlive_the_run(sandbox):
    program = "import ctypes\nprint(ctypes.CDLL(None).shmget(0, 1 << 24, 0o1600) >= 0)"  # IPC_PRIVATE|IPC_CREAT
    assert sandbox.run(program).stdout == "True\n"
    assert sandbox.run("print(open('/proc/sysvipc/shm').read().splitlines()[1:])").stdout == "[]\n"


def test_runs_as_an_unprivileged_user_without_capabilities(sandbox):
    program = (
        "import os\nstatus = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n"
        "print(os.getuid() != 0, status['CapEff'].strip(), status['NoNewPrivs'].strip())"
    )
    assert sandbox.run(program).stdout == "True 0000000000000000 1\n"


def test_invalid_text_comes_back_replaced(sandbox):
    result = sandbox.run("import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe'); print('\\udcff', file=sys.stderr)")
    assert result.stdout == "ok \ufffd\ufffd" and result.exit_code == 0


def test_lone_surrogates_in_code_and_stdin_are_a_failed_run(sandbox):
    result = sandbox.run("print('\ud800')", stdin="\udfff")
    assert result.exit_code == 1 and "surrogates not allowed" in result.stderr


# --- the verifier: each hostile completion is a clean rejection with a reason ----------------------------------


def fenced(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}\n```\n"


HOSTILE = [
    ("empty", "", "no code block"),
    ("only prose", "I cannot solve this.", "no code block"),
    ("empty block", "```python\n```", "empty code"),
    ("megabytes", fenced("print(1)\n" + "#" * 3_000_000), "code too long"),
    ("lone surrogate", fenced("print('\ud800')"), "not valid UTF-8"),
    ("invalid utf-8 escapes", fenced("print(b'\\xff'.decode())"), "UnicodeDecodeError"),
    ("syntax error", fenced("def f(:\n    pass"), "SyntaxError"),
    ("endless loop", fenced("while True: pass"), "timeout on case 1"),
    ("sleeps forever", fenced("import time; time.sleep(10**6)"), "timeout on case 1"),
    ("prints forever", fenced("while True: print('spam')"), "output limit"),
    ("fork bomb", fenced("import os\nwhile True: os.fork()"), "case 1"),
    ("10 GB", fenced("x = bytearray(10 * 1024**3)"), "MemoryError"),
    ("huge file", fenced("f = open('x', 'wb')\nwhile True: f.write(b'x' * 65536)"), "File too large"),
    ("network", fenced("import socket; socket.create_connection(('127.0.0.1', 22), timeout=1)"), "Error"),
    ("reads env", fenced("import os; print(os.environ['FOUNDRY_TEST_SECRET'])"), "KeyError"),
    ("reads project", fenced(f"print(open({str(PROJECT / 'pyproject.toml')!r}).read())"), "FileNotFoundError"),
    ("kills parent", fenced("import os; os.kill(os.getppid(), 9)"), "sandbox died"),
    ("exits early", fenced("import os; os._exit(0)"), "case 1"),
    ("escapes", fenced("import os, time\nif os.fork() == 0:\n    os.setsid(); time.sleep(60)"), "case 1"),
]


@pytest.fixture(scope="module")
def verifier():
    config = CodeTestVerifierConfig(
        wall_seconds=1, memory_mb=256, max_file_mb=4, max_processes=16, max_output_bytes=20_000
    )
    code_verifier = CodeTestVerifier(config)
    yield code_verifier
    code_verifier.close()


@pytest.mark.parametrize(("completion", "reason"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_completion_is_rejected_with_a_reason(verifier, monkeypatch, completion, reason):
    monkeypatch.setenv("FOUNDRY_TEST_SECRET", "s3cr3t-value")
    tests = {"stdin_stdout": [{"input": "1\n", "output": "2\n"}, {"input": "2\n", "output": "3\n"}]}
    sample = Sample(id="s", task_id="t", sample_index=0, completion=completion, tests=tests)
    verdict = verifier.verify(sample)
    assert not verdict.passed and verdict.score < 1
    assert reason in verdict.reason and len(verdict.reason) < 400, verdict.reason
    assert "s3cr3t" not in verdict.reason
    honest = sample.model_copy(update={"completion": fenced("print(int(input()) + 1)")})
    assert verifier.verify(honest).passed  # and the verifier is fine afterwards
