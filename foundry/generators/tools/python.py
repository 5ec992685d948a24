"""The `python` tool: model-written code runs in the verifiers' sandbox (bubblewrap, no network, rlimits).

Stateful mode keeps a rollout's variables by replaying its earlier successful cells, output hidden, before the new
one: the sandbox forks a fresh process per run, so replay is the one way to carry state without a live kernel.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from foundry.config import PythonToolConfig
from foundry.generators.tools.base import ToolOutput
from foundry.verifiers.sandbox import ExecResult, Sandbox, SandboxLimits

_REPLAY = """import contextlib as __c, io as __io
with __c.redirect_stdout(__io.StringIO()), __c.redirect_stderr(__io.StringIO()):
{replayed}
exec(compile({code!r}, "<cell {number}>", "exec"))
"""


class PythonArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="A Python program; print what you want to see.")


def replay_program(cells: list[str], code: str) -> str:
    """One program that re-runs `cells` silently, then `code` with its output shown."""
    if not cells:
        return code
    replayed = "\n".join(f"    exec(compile({cell!r}, '<cell {i}>', 'exec'))" for i, cell in enumerate(cells, 1))
    return _REPLAY.format(replayed=replayed, code=code, number=len(cells) + 1)


class PythonTool:
    """Runs each call as one sandboxed program; the sandbox pool is shared by every rollout of the replica."""

    arguments = PythonArguments

    def __init__(self, config: PythonToolConfig, workers: int = 1):
        self.name, self.description = config.name, config.description
        self.config = config
        self.timeout_seconds = config.timeout_seconds
        self.grace_seconds = 10.0  # the sandbox kills at timeout_seconds; this only guards a wedged sandbox
        self.max_output_chars = config.max_output_chars
        limits = SandboxLimits(cpu_seconds=config.cpu_seconds, memory_mb=config.memory_mb,
                               wall_seconds=config.timeout_seconds,
                               max_output_bytes=max(4096, 4 * config.max_output_chars))
        self.sandbox = Sandbox(limits, mode=config.sandbox, workers=workers)

    def run(self, arguments: PythonArguments, state: dict[str, Any]) -> ToolOutput:
        cells: list[str] = state.setdefault(f"{self.name}:cells", []) if self.config.stateful else []
        result = self.sandbox.run(replay_program(cells, arguments.code), timeout=self.timeout_seconds)
        if result.ok and self.config.stateful:
            cells.append(arguments.code)
        return _output(result, self.timeout_seconds)

    def close(self) -> None:
        self.sandbox.close()


def _output(result: ExecResult, timeout: float) -> ToolOutput:
    text = result.stdout + (("\n" if result.stdout and not result.stdout.endswith("\n") else "") + result.stderr
                            if result.stderr else "")
    if result.timed_out:
        return ToolOutput(f"{text}\nError: timed out after {timeout:g} s", error="timeout", timed_out=True)
    if result.killed_reason:
        return ToolOutput(text + f"\nError: {result.killed_reason}", error=result.killed_reason)
    if result.exit_code != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        return ToolOutput(text, error=(lines[-1] if lines else f"exit status {result.exit_code}")[:200])
    return ToolOutput(text)
