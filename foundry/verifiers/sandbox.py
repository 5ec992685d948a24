"""Run untrusted, model-written Python in bubblewrap, fast.

Each worker is one bubblewrap sandbox (no network, read-only system, private tmpfs, empty environment, own pid
namespace, unprivileged uid) holding a warm interpreter (`_zygote.py`) that forks a child per execution. The child
sets its own rlimits; the zygote enforces the wall clock and the output cap and kills whatever the program left.
"""

from __future__ import annotations

import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from foundry.verifiers._zygote import HEADER

SandboxMode = Literal["bwrap", "unsafe_subprocess"]

NOBODY = 65534
"""The uid programs run as when Foundry runs as root: the kernel ignores RLIMIT_NPROC for root."""
START_SECONDS = 30.0
GRACE_SECONDS = 5.0
"""How long past a program's timeout the host waits for its zygote before declaring it hung."""
INSTALL_HINT = "install it with `apt-get install bubblewrap` (or choose sandbox: unsafe_subprocess, no isolation)"


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start here (no bubblewrap, no namespaces); the message says what to install."""


@dataclass(frozen=True)
class SandboxLimits:
    """Per-execution limits; the child process sets them on itself right before running the program."""

    cpu_seconds: int = 5
    memory_mb: int = 512
    """Address space (RLIMIT_AS); allocations beyond it raise MemoryError."""
    max_processes: int = 32
    """RLIMIT_NPROC: bounds fork bombs. The kernel counts it per uid; when Foundry runs as root every sandbox on the
    machine shares uid 65534, so a fork bomb in one can make fork() fail briefly in another."""
    max_file_mb: int = 16
    """Largest file a program may write (RLIMIT_FSIZE: writes beyond fail with EFBIG)."""
    max_open_files: int = 64
    wall_seconds: float = 5.0
    """Default wall-clock timeout of one execution."""
    max_output_bytes: int = 1 << 20
    """Combined stdout + stderr kept; a program that writes more is killed."""
    tmp_mb: int = 64
    """Size of the private /tmp (the only writable place in the sandbox)."""


@dataclass(frozen=True)
class ExecResult:
    """How one execution ended; `killed_reason` says why the sandbox stopped it (None: it exited by itself)."""

    exit_code: int | None
    """Exit status; negative for a signal (like subprocess); None when the sandbox itself failed."""
    stdout: str
    stderr: str
    timed_out: bool = False
    killed_reason: str | None = None
    seconds: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed_reason is None


class Sandbox:
    """A thread-safe pool of `workers` sandboxed zygotes; `run` executes one program in one of them.

    A zygote that dies (the program killed it) or hangs is replaced on next use; that execution returns a failed
    result with a reason. mode="unsafe_subprocess" runs the same zygote as a plain subprocess with rlimits only:
    no filesystem, network, user or pid isolation, for trusted code or machines without bubblewrap.
    """

    def __init__(self, limits: SandboxLimits | None = None, mode: SandboxMode = "bwrap", workers: int = 1):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.limits = limits or SandboxLimits()
        self.mode = mode
        self._command = _bwrap_command(self.limits) if mode == "bwrap" else _unsafe_command(self.limits)
        self._idle: queue.SimpleQueue[_Zygote | None] = queue.SimpleQueue()
        self._live: set[_Zygote] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(workers):  # start them all now: a broken set-up fails here, not on the first sample
            self._idle.put(self._start())

    def run(self, code: str, stdin: str = "", timeout: float | None = None) -> ExecResult:
        """Execute `code` as a Python program with `stdin`; never raises for anything the program does."""
        if self._closed:
            raise RuntimeError("sandbox is closed")
        timeout = self.limits.wall_seconds if timeout is None else timeout
        zygote = self._idle.get()
        try:
            if zygote is None or not zygote.alive():
                self._discard(zygote)
                zygote = None
                zygote = self._start()
            return zygote.run({"code": code, "stdin": stdin, "timeout": timeout}, timeout + GRACE_SECONDS)
        except _ZygoteLost as lost:
            self._discard(zygote)
            zygote = None
            return ExecResult(exit_code=None, stdout="", stderr="", killed_reason=f"sandbox died: {lost}")
        finally:
            self._idle.put(zygote)

    def close(self) -> None:
        """Stop every zygote (and with it everything running in its sandbox)."""
        self._closed = True
        with self._lock:
            zygotes, self._live = list(self._live), set()
        for zygote in zygotes:
            zygote.kill()
        self._command.cleanup()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> _Zygote:
        zygote = _Zygote(self._command)
        with self._lock:
            if self._closed:
                zygote.kill()
                raise RuntimeError("sandbox is closed")
            self._live.add(zygote)
        return zygote

    def _discard(self, zygote: _Zygote | None) -> None:
        if zygote is not None:
            zygote.kill()
            with self._lock:
                self._live.discard(zygote)


class _ZygoteLost(Exception):
    """The zygote died or stopped answering; the message says which."""


@dataclass
class _Command:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    scratch_dir: str | None = None
    """Host temp dir owned by this command (unsafe mode), removed on close."""

    def cleanup(self) -> None:
        if self.scratch_dir:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)


class _Zygote:
    """One sandbox process and its host-side pipe ends: a request goes out, a result comes back."""

    def __init__(self, command: _Command):
        self._stderr = tempfile.TemporaryFile()  # bwrap's or the zygote's own complaint, if start-up fails
        self.proc = subprocess.Popen(
            command.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=command.env,
            cwd=command.cwd,
            start_new_session=True,  # its own process group, so kill() takes bwrap and everything under it
        )
        os.set_blocking(self.proc.stdin.fileno(), False)
        try:
            self._receive(time.monotonic() + START_SECONDS)
        except _ZygoteLost as lost:
            self.kill()
            raise SandboxUnavailable(f"the sandbox failed to start ({lost}): {self._complaint()}") from None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, request: dict, wait_seconds: float) -> ExecResult:
        deadline = time.monotonic() + wait_seconds
        body = json.dumps(request).encode()  # ASCII-only JSON: lone surrogates travel as \\udXXX escapes
        self._send(HEADER.pack(len(body)) + body, deadline)
        result = self._receive(deadline)
        if "error" in result:
            return ExecResult(exit_code=None, stdout="", stderr="", killed_reason=f"sandbox error: {result['error']}")
        return ExecResult(**result)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            pipe.close()
        self._stderr.close()

    def _send(self, data: bytes, deadline: float) -> None:
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            self._wait(fd, select.POLLOUT, deadline)
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
            except OSError as exc:  # EPIPE: it died
                raise _ZygoteLost(f"{self._exit_description()} ({exc.strerror})") from None

    def _receive(self, deadline: float) -> dict:
        (size,) = HEADER.unpack(self._read_exact(HEADER.size, deadline))
        return json.loads(self._read_exact(size, deadline))

    def _read_exact(self, size: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        data = bytearray()
        while len(data) < size:
            self._wait(fd, select.POLLIN, deadline)
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise _ZygoteLost(self._exit_description())
            data += chunk
        return bytes(data)

    def _wait(self, fd: int, event: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(fd, event)
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            # A stopped (SIGSTOP) or wedged zygote: the host's own deadline is the last line of defence.
            raise _ZygoteLost("no answer before the deadline")

    def _exit_description(self) -> str:
        try:
            code = self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "closed its pipe"
        return f"killed by signal {-code}" if code < 0 else f"exited with status {code}"

    def _complaint(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return text[-2000:] or "no error output"


def _limits_arg(limits: SandboxLimits) -> str:
    return json.dumps(asdict(limits))


def _zygote_source() -> str:
    return Path(__file__).with_name("_zygote.py").read_text()


def _bwrap_command(limits: SandboxLimits) -> _Command:
    """bwrap argv: fresh namespaces, read-only /usr and interpreter, private /tmp, nothing of the host's files."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("setpriv") is None:
        raise SandboxUnavailable("setpriv (util-linux) is needed to drop root inside the sandbox")
    python = os.path.realpath(sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    # Not --unshare-all: as root that also makes a user namespace, and root's mapping there leaves the program real
    # root to the kernel (RLIMIT_NPROC ignored). Unprivileged, bwrap makes a user namespace by itself.
    argv += ["--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    for name, value in {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}.items():
        argv += ["--setenv", name, value]
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):  # merged /usr: keep the symlink
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        argv += ["--ro-bind-try", path, path]
    argv += ["--dev", "/dev", "--proc", "/proc"]
    argv += ["--perms", "1777", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp"]
    if not prefix.startswith("/usr/"):
        # The interpreter lives outside /usr (pyenv, conda): mount just its prefix, at the same path, through
        # world-readable parents (bwrap would otherwise copy e.g. /root's 0700 mode).
        for parent in reversed(Path(prefix).parents[:-1]):
            argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", prefix, prefix]
    argv += ["--chdir", "/tmp"]
    if as_root:
        # bwrap as root makes no user namespace; drop to an unprivileged uid inside, so RLIMIT_NPROC holds and the
        # program owns nothing of the host. setpriv needs these capabilities only for that switch; it clears them.
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        argv += ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        argv += ["--inh-caps=-all", "--bounding-set=-all"]
    argv += [python, "-I", "-S", "-c", _zygote_source(), _limits_arg(limits), "/tmp", "--sandboxed"]
    return _Command(argv=argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, cwd="/")


def _unsafe_command(limits: SandboxLimits) -> _Command:
    """The same zygote as a plain subprocess: rlimits and a timeout, but it sees the host as the current user."""
    scratch = tempfile.mkdtemp(prefix="foundry-unsafe-")
    env = {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8"}
    argv = [sys.executable, "-I", "-S", "-c", _zygote_source(), _limits_arg(limits), scratch]
    return _Command(argv=argv, env=env, cwd=scratch, scratch_dir=scratch)
