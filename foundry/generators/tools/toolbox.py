"""The tools of one campaign in one replica: validate each call, run it off the event loop, bound it, cap it.

Calls run on a bounded thread pool (`tool_workers`), never on the engine's event loop, so a slow tool delays only
its own rollout; every failure — unreadable call, unknown tool, bad arguments, exception, timeout — becomes an
error result the model reads, never an exception out of the loop.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from foundry.generators.tools.base import Tool, ToolOutput, cap_output, function_schema
from foundry.generators.tools.parsers import ParsedCall


@dataclass(frozen=True)
class ToolResult:
    """One executed (or refused) call, as recorded on the trace; `content` is the tool message the model reads."""

    name: str
    content: str
    valid: bool = True
    """False: the call was unreadable, named no known tool, or its arguments failed the schema."""
    error: str | None = None
    timed_out: bool = False
    truncated: bool = False
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "content"}


def validation_summary(exc: ValidationError) -> str:
    """Pydantic errors as one line a model can act on: `code: Input should be a valid string`."""
    parts = [f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)


class Toolbox:
    def __init__(self, tools: list[Tool], workers: int = 4):
        self.tools = {tool.name: tool for tool in tools}
        self.schemas = [function_schema(t.name, t.description, t.arguments) for t in tools]
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="foundry-tools")

    async def execute(self, call: ParsedCall, state: dict[str, Any]) -> ToolResult:
        """Run one call for the rollout that owns `state`; never raises (cancellation aside)."""
        if call.error:
            return self._refuse(call.name, f"unreadable tool call: {call.error}")
        tool = self.tools.get(call.name or "")
        if tool is None:
            return self._refuse(call.name, f"unknown tool {call.name!r}; the tools are {', '.join(self.tools)}")
        try:
            arguments = tool.arguments.model_validate(call.arguments)
        except ValidationError as exc:
            return self._refuse(tool.name, f"invalid arguments for {tool.name}: {validation_summary(exc)}")
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            output = await asyncio.wait_for(loop.run_in_executor(self.executor, tool.run, arguments, state),
                                            tool.timeout_seconds + tool.grace_seconds)
        except TimeoutError:
            # The thread cannot be killed; it finishes in the background. The model hears about it now.
            output = ToolOutput(f"Error: no result within {tool.timeout_seconds:g} s", "timeout", timed_out=True)
        except Exception as exc:  # the tool's own failure is something the model can read and react to
            output = ToolOutput(f"Error: {type(exc).__name__}: {exc}", f"{type(exc).__name__}: {exc}"[:200])
        content, truncated = cap_output(output.content, tool.max_output_chars)
        return ToolResult(tool.name, content, True, output.error, output.timed_out, truncated,
                          round(time.perf_counter() - start, 6))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        for tool in self.tools.values():
            tool.close()

    @staticmethod
    def _refuse(name: str | None, message: str) -> ToolResult:
        return ToolResult(name or "invalid", f"Error: {message}", valid=False, error=message[:200])
