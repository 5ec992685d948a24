"""The warm interpreter that runs inside the sandbox and forks one child per execution.

Started once per sandbox worker as `python -I -S -c <this file> LIMITS_JSON SCRATCH [--sandboxed]`; it talks to the
host over its stdin/stdout with length-prefixed JSON. Standard library only: it runs under a bare interpreter.
A fork costs about a millisecond where a fresh interpreter costs ~60 ms, which is the whole point of this file.
"""

import ctypes
import io
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback
import types

# Modules competitive-programming and HumanEval solutions import: imported once here, free in every child.
WARM_MODULES = (
    "array bisect collections copy dataclasses datetime decimal enum fractions functools hashlib heapq itertools "
    "json math operator random re statistics string typing unicodedata"
).split()

HEADER = struct.Struct(">I")
PR_SET_DUMPABLE = 4
IPC_RMID = 0


def main(argv):
    limits, scratch, sandboxed = json.loads(argv[1]), argv[2], "--sandboxed" in argv
    if sandboxed and os.getpid() != 2:
        # kill(-1) below is only safe in a private pid namespace, where pid 1 is bwrap and we are pid 2.
        sys.exit("zygote: --sandboxed needs a private pid namespace (run under bwrap --unshare-pid)")
    libc = ctypes.CDLL(None, use_errno=True)
    # Not dumpable: programs run as our uid, and could otherwise ptrace us or read /proc/<zygote>/{mem,fd}.
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    for name in WARM_MODULES:
        try:
            __import__(name)
        except ImportError:
            pass
    # Move the host channel off fds 0/1 so children get clean standard streams; children close it.
    inbox, outbox = os.fdopen(os.dup(0), "rb", buffering=0), os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    scratch_mode = os.stat(scratch).st_mode & 0o7777
    send(outbox, {"ready": True, "python": sys.version.split()[0]})
    while True:
        request = receive(inbox)
        if request is None:
            return
        try:
            result = execute(request, limits, scratch, sandboxed)
        except Exception as exc:  # a zygote bug: report it for this run instead of dying silently
            result = {"error": f"{type(exc).__name__}: {exc}"}
        clean = reset(scratch, scratch_mode, sandboxed, libc)
        send(outbox, result)
        if not clean:
            sys.exit("zygote: could not restore a clean sandbox; exiting so the host starts a fresh one")


def receive(stream):
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    body = bytearray()
    while len(body) < size:
        chunk = stream.read(size - len(body))
        if not chunk:
            return None
        body += chunk
    return json.loads(body)


def send(stream, message):
    body = json.dumps(message).encode()
    stream.write(HEADER.pack(len(body)) + body)


def execute(request, limits, scratch, sandboxed):
    """Fork a child that runs the program; watch its wall clock and output from here."""
    stdin = os.memfd_create("stdin")  # a file, so a large stdin never blocks us against the child
    os.write(stdin, request["stdin"].encode("utf-8", "surrogatepass"))
    os.lseek(stdin, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started = time.monotonic()
    try:
        pid = os.fork()
    except OSError:
        for fd in (stdin, out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    if pid == 0:
        child(request["code"], limits, scratch, stdin, out_w, err_w)
    for fd in (stdin, out_w, err_w):
        os.close(fd)
    outcome = watch(pid, out_r, err_r, request["timeout"], limits["max_output_bytes"])
    seconds = time.monotonic() - started
    # The program is over when its main process exits: kill its process group (SIGKILL cannot be caught), reap it,
    # then anything that left the group, so nothing outlives the run or holds our pipes open.
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    _, status, usage = os.wait4(pid, 0)
    if sandboxed and not kill_everything_else():
        raise RuntimeError("processes survived SIGKILL")
    outcome.update(drain(out_r, err_r, limits["max_output_bytes"], outcome))
    code = os.waitstatus_to_exitcode(status)
    if outcome["killed_reason"] is None and code < 0:
        cpu = usage.ru_utime + usage.ru_stime
        if code == -signal.SIGXCPU or (code == -signal.SIGKILL and cpu >= limits["cpu_seconds"]):
            outcome["killed_reason"] = f"cpu limit ({limits['cpu_seconds']} s)"
    return {
        "exit_code": code,
        "stdout": outcome["out"].decode("utf-8", "replace"),
        "stderr": outcome["err"].decode("utf-8", "replace"),
        "timed_out": outcome["timed_out"],
        "killed_reason": outcome["killed_reason"],
        "seconds": round(seconds, 6),
        "truncated": outcome["truncated"],
    }


def watch(pid, out_r, err_r, timeout, cap):
    """Collect output until the child exits, the deadline passes or the output cap is hit."""
    outcome = {"out": bytearray(), "err": bytearray(), "timed_out": False, "killed_reason": None, "truncated": False}
    buffers = {out_r: outcome["out"], err_r: outcome["err"]}
    exited = os.pidfd_open(pid)
    poller = select.poll()
    for fd in (out_r, err_r, exited):
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                outcome.update(timed_out=True, killed_reason=f"timeout ({timeout:g} s)")
                return outcome
            ready = poller.poll(left * 1000)
            if any(fd == exited for fd, _ in ready):
                return outcome
            for fd, _ in ready:
                if not read_into(fd, buffers[fd]):
                    poller.unregister(fd)
            if len(outcome["out"]) + len(outcome["err"]) > cap:
                outcome.update(killed_reason=f"output limit ({cap} bytes)", truncated=True)
                return outcome
    finally:
        os.close(exited)


def drain(out_r, err_r, cap, outcome):
    """Read what is left in the pipes (the writers are dead or about to be), then cut to the cap."""
    buffers = {out_r: outcome["out"], err_r: outcome["err"]}
    deadline = time.monotonic() + 1.0  # outside a pid namespace an escaped process may hold a pipe open
    for fd, buffer in buffers.items():
        os.set_blocking(fd, False)
        while time.monotonic() < deadline and len(outcome["out"]) + len(outcome["err"]) <= cap:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            try:
                if not read_into(fd, buffer):
                    break
            except BlockingIOError:
                continue
        os.close(fd)
    out, err = outcome["out"], outcome["err"]
    truncated = outcome["truncated"] or len(out) + len(err) > cap
    return {"out": bytes(out[:cap]), "err": bytes(err[: max(0, cap - len(out))]), "truncated": truncated}


def read_into(fd, buffer):
    chunk = os.read(fd, 65536)
    buffer += chunk
    return bool(chunk)


def child(code, limits, scratch, stdin, out_w, err_w):
    """Runs in the forked child and never returns: every path, including the program's own forks, ends in _exit."""
    status = 1
    try:
        os.setsid()
        os.dup2(stdin, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 20)  # includes the host channel: a program must not speak for the zygote
        os.chdir(scratch)
        set_limits(limits)
        status = run_program(code)
    except BaseException as exc:
        os.write(2, f"sandbox setup failed: {type(exc).__name__}: {exc}\n".encode())
    finally:
        os._exit(status)


def set_limits(limits):
    mb = 1 << 20
    cpu = int(limits["cpu_seconds"])
    for limit, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),  # SIGXCPU at the soft limit, SIGKILL a second later
        (resource.RLIMIT_AS, limits["memory_mb"] * mb),
        (resource.RLIMIT_FSIZE, limits["max_file_mb"] * mb),
        (resource.RLIMIT_NOFILE, limits["max_open_files"]),
        (resource.RLIMIT_NPROC, limits["max_processes"]),
    ):
        soft, hard = value if isinstance(value, tuple) else (value, value)
        ceiling = resource.getrlimit(limit)[1]
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(limit, (soft, hard))


def run_program(code):
    """Run `code` as `__main__` the way `python prog.py` would, and return the exit status."""
    sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", errors="surrogateescape", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    sys.argv = ["program.py"]
    if "random" in sys.modules:
        sys.modules["random"].seed()  # otherwise every child would replay the zygote's random sequence
    module = types.ModuleType("__main__")
    module.__file__ = "program.py"
    sys.modules["__main__"] = module
    try:
        exec(compile(code, "program.py", "exec"), module.__dict__)
        status = 0
    except SystemExit as exc:
        status = exit_status(exc.code)
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        status = 1
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()  # wait for non-daemon threads, as interpreter exit does
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    return status


def exit_status(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def kill_everything_else():
    """Kill double-forked and setsid() escapees; True once none is left.

    In our own pid namespace kill(-1) reaches every process but pid 1 (bwrap) and us. It is repeated until nothing is
    left to signal (all reaped by bwrap), so no dying process holds a slot of the next program's RLIMIT_NPROC.
    """
    for _ in range(2000):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return True
        time.sleep(0.001)
    return False


def reset(scratch, scratch_mode, sandboxed, libc):
    """Return the sandbox to its pristine state; False when that failed (the zygote then exits)."""
    try:
        if sandboxed:
            if not kill_everything_else():
                return False
            remove_ipc_objects(libc)
        wipe(scratch, scratch_mode)
    except OSError:
        return False
    return True


def remove_ipc_objects(libc):
    """SysV shared memory outlives its creator and is not bounded by RLIMIT_AS: remove whatever a program left."""
    for kind, remove in (
        ("shm", lambda ident: libc.shmctl(ident, IPC_RMID, None)),
        ("sem", lambda ident: libc.semctl(ident, 0, IPC_RMID)),
        ("msg", lambda ident: libc.msgctl(ident, IPC_RMID, None)),
    ):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                rows = table.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            remove(int(row.split()[1]))


def wipe(scratch, mode):
    """Empty the writable area, even where a program removed its own permissions."""

    def force(func, path, _exc):
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)

    if os.stat(scratch).st_mode & 0o7777 != mode:
        os.chmod(scratch, mode)
    with os.scandir(scratch) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, onerror=force)
            else:
                os.unlink(entry.path)


if __name__ == "__main__":
    main(sys.argv)
