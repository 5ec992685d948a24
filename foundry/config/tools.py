"""The tools a tool-use generator offers the model: sandboxed Python, local search, user functions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from foundry.config.base import Strict


class PythonToolConfig(Strict):
    """The `python` tool: model-written code runs in the verifiers' sandbox; the model sees what it printed."""

    kind: Literal["python"] = "python"
    name: str = "python"
    description: str = "Run Python code and return what it prints."
    stateful: bool = False
    """Keep variables between calls of one rollout by replaying its earlier successful cells (output hidden) before
    the new one; their side effects replay too."""
    sandbox: Literal["bwrap", "unsafe_subprocess"] = "bwrap"
    """As for the code verifier: `unsafe_subprocess` has rlimits only, no isolation."""
    timeout_seconds: float = Field(default=5.0, gt=0)
    """Wall clock per call (replayed cells included); the program is killed at it."""
    cpu_seconds: int = Field(default=5, ge=1)
    memory_mb: int = Field(default=512, ge=64)
    max_output_chars: int = Field(default=2000, ge=16)
    """Longer output is cut, with a note saying so."""


class SearchToolConfig(Strict):
    """The `search` tool: BM25 over a local JSONL corpus, one document per line."""

    kind: Literal["search"] = "search"
    name: str = "search"
    description: str = "Search the documents; returns the best matching passages."
    corpus: str = Field(min_length=1)
    """JSONL file (relative paths resolve against the config file); read on each replica's node."""
    text_field: str = "text"
    title_field: str | None = "title"
    top_k: int = Field(default=3, ge=1)
    timeout_seconds: float = Field(default=5.0, gt=0)
    max_output_chars: int = Field(default=2000, ge=16)


class FunctionToolConfig(Strict):
    """A user tool by import path; its JSON schema comes from the function's type hints and docstring."""

    kind: Literal["function"] = "function"
    path: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """`package.module:function`, importable on the replica nodes."""
    name: str | None = None
    """Name shown to the model (default: the function's own name)."""
    timeout_seconds: float = Field(default=5.0, gt=0)
    """A call still running then is reported as timed out (a thread cannot be killed: keep tools short)."""
    max_output_chars: int = Field(default=2000, ge=16)


ToolConfig = Annotated[PythonToolConfig | SearchToolConfig | FunctionToolConfig, Field(discriminator="kind")]
