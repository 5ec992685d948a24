"""User tools by import path (`package.module:function`): the schema comes from type hints and the docstring.

The arguments model is built with pydantic from the signature, so the schema the model sees and the validation a
call goes through are the same object. Parameter descriptions come from a Google-style `Args:` section.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from foundry.config import FunctionToolConfig
from foundry.generators.tools.base import ToolOutput


class ToolDefinitionError(ValueError):
    """A user tool that cannot be offered to a model (not importable, untyped parameters)."""


def load_object(path: str) -> Any:
    """`package.module:name` -> the object, with an error that names the path."""
    module_name, _, attribute = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ToolDefinitionError(f"cannot import {path}: {exc}") from None


def describe(function: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """(summary, {parameter: description}) from a docstring with an optional Google-style `Args:` section."""
    doc = inspect.getdoc(function) or ""
    summary = doc.split("\n\n")[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?|\s*\n)+)", doc, flags=re.MULTILINE)
    if section:
        for match in re.finditer(r"^\s+(\w+)(?:\s*\([^)]*\))?\s*:\s*(.+)$", section.group(1), flags=re.MULTILINE):
            params[match.group(1)] = match.group(2).strip()
    return summary, params


def arguments_model(function: Callable[..., Any], name: str) -> type[BaseModel]:
    """A pydantic model of `function`'s parameters; every parameter needs a type hint."""
    hints = typing.get_type_hints(function)
    _, docs = describe(function)
    fields: dict[str, Any] = {}
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolDefinitionError(f"tool {name}: parameter {param.name} must be a plain keyword parameter")
        if param.name not in hints:
            raise ToolDefinitionError(f"tool {name}: parameter {param.name} has no type hint")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], Field(default, description=docs.get(param.name)))
    return create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


class FunctionTool:
    """Calls a user function with validated keyword arguments; a non-string result is sent back as JSON."""

    grace_seconds = 0.0

    def __init__(self, config: FunctionToolConfig):
        self.function = load_object(config.path)
        if not callable(self.function):
            raise ToolDefinitionError(f"{config.path} is not callable")
        self.name = config.name or self.function.__name__
        summary, _ = describe(self.function)
        self.description = summary or self.name
        self.arguments = arguments_model(self.function, self.name)
        self.timeout_seconds, self.max_output_chars = config.timeout_seconds, config.max_output_chars

    def run(self, arguments: BaseModel, state: dict[str, Any]) -> ToolOutput:
        result = self.function(**{name: getattr(arguments, name) for name in type(arguments).model_fields})
        if isinstance(result, ToolOutput):
            return result
        return ToolOutput(result if isinstance(result, str) else json.dumps(result, default=str))

    def close(self) -> None:
        pass
