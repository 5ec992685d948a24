"""Tools a model can call during a rollout, by config `kind`: one explicit map, no registry magic."""

from __future__ import annotations

from collections.abc import Sequence

from foundry.config import FunctionToolConfig, PythonToolConfig, SearchToolConfig
from foundry.generators.tools.base import Tool
from foundry.generators.tools.toolbox import Toolbox


def _python(config: PythonToolConfig, workers: int) -> Tool:
    from foundry.generators.tools.python import PythonTool  # starts sandbox processes: only when configured

    return PythonTool(config, workers)


def _search(config: SearchToolConfig, workers: int) -> Tool:
    from foundry.generators.tools.search import SearchTool

    return SearchTool(config)


def _function(config: FunctionToolConfig, workers: int) -> Tool:
    from foundry.generators.tools.function import FunctionTool

    return FunctionTool(config)


BUILDERS = {"python": _python, "search": _search, "function": _function}


def build_toolbox(tools: Sequence[PythonToolConfig | SearchToolConfig | FunctionToolConfig], workers: int) -> Toolbox:
    """Every configured tool, ready to run; a tool that cannot start (no bubblewrap, bad import) raises here."""
    built: list[Tool] = []
    try:
        for config in tools:
            built.append(BUILDERS[config.kind](config, workers))
    except BaseException:
        for tool in built:
            tool.close()
        raise
    names = [tool.name for tool in built]
    if len(names) != len(set(names)):
        for tool in built:
            tool.close()
        raise ValueError(f"tool names must be unique, got {names}")
    return Toolbox(built, workers)
