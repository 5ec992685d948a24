"""What every tool is: a name, a pydantic model of its arguments (its JSON schema), and a blocking `run`.

Tools are plain Python and blocking on purpose: the toolbox runs them on its own threads, off the engine's event
loop, so a tool author never has to think about asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel


@dataclass(frozen=True)
class ToolOutput:
    """What a call produced: `content` is what the model sees; `error` (short) marks a failed call."""

    content: str
    error: str | None = None
    timed_out: bool = False


class Tool(Protocol):
    name: str
    description: str
    arguments: type[BaseModel]
    timeout_seconds: float
    grace_seconds: float
    """Extra wait past `timeout_seconds` for tools that enforce their own timeout (the sandbox kills on time)."""
    max_output_chars: int

    def run(self, arguments: BaseModel, state: dict[str, Any]) -> ToolOutput:
        """Blocking; `state` belongs to one rollout (e.g. the python tool's earlier cells)."""
        ...

    def close(self) -> None: ...


def function_schema(name: str, description: str, arguments: type[BaseModel]) -> dict[str, Any]:
    """The OpenAI / Hugging Face tool schema, as chat templates expect it in `tools=`."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": _untitled(arguments.model_json_schema())},
    }


def _untitled(schema: Any) -> Any:
    # Pydantic's "title" keys repeat the names; every token of a schema is prompt the model reads on every turn.
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


def cap_output(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters, keeping its head and its tail (where a traceback's error line is), with a
    note the model can read in between; (text, truncated)."""
    if len(text) <= limit:
        return text, False
    note = f"\n[... {len(text) - limit} characters cut ...]\n"
    keep = max(0, limit - len(note))
    head = keep * 2 // 3
    return text[:head] + note + text[len(text) - (keep - head):] if keep > head else text[:head] + note, True
