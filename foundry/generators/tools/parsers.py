"""Reading tool calls out of a model turn: Hermes / Qwen `<tool_call>{json}</tool_call>`, plain JSON, or your own.

A parser is `text -> ParsedTurn` and never raises: a call it cannot read comes back with `error` set, so the loop
answers it with an error tool message and the model gets a chance to fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from foundry.generators.tools.function import load_object


@dataclass(frozen=True)
class ParsedCall:
    """One call as written: `arguments` is None and `error` says why when it could not be used.

    `name` None means unreadable (not even JSON naming a tool): the parser leaves its text in the turn's content, so
    the stored conversation shows what the model wrote.
    """

    name: str | None
    arguments: dict[str, Any] | None
    raw: str
    error: str | None = None
    arguments_text: str | None = None
    """The arguments as written (JSON text), kept for a named call whose arguments were unusable."""


@dataclass(frozen=True)
class ParsedTurn:
    content: str
    """The turn's text without its tool calls."""
    calls: list[ParsedCall] = field(default_factory=list)


Parser = Callable[[str], ParsedTurn]
_HERMES = re.compile(r"<tool_call>(.*?)(</tool_call>|$)", flags=re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", flags=re.DOTALL)


def call_from_object(value: Any, raw: str) -> ParsedCall:
    """A call from `{name, arguments|parameters}` or OpenAI's `{type: function, function: {name, arguments}}`."""
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        value = value["function"]
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return ParsedCall(None, None, raw, "a tool call must be a JSON object with a string `name`")
    arguments = value.get("arguments", value.get("parameters", {}))
    written = arguments if isinstance(arguments, str) else json.dumps(arguments)
    if isinstance(arguments, str):  # OpenAI's format carries arguments as JSON text
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return ParsedCall(value["name"], None, raw, f"arguments are not valid JSON ({exc.msg})", written)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return ParsedCall(value["name"], None, raw, "`arguments` must be a JSON object", written)
    return ParsedCall(value["name"], arguments, raw)


def _loads(raw: str) -> tuple[Any, str | None]:
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at char {exc.pos})"


def parse_hermes(text: str) -> ParsedTurn:
    """`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks; an unclosed last block is malformed."""
    calls, content, end = [], [], 0
    for match in _HERMES.finditer(text):
        raw = match.group(1).strip()
        if not match.group(2):
            call = ParsedCall(None, None, raw, "unclosed <tool_call> (no </tool_call>)")
        else:
            value, error = _loads(raw)
            call = ParsedCall(None, None, raw, error) if error else call_from_object(value, raw)
        calls.append(call)
        content.append(text[end : match.start()] if call.name else text[end : match.end()])
        end = match.end()
    content.append(text[end:])
    return ParsedTurn("".join(content).strip(), calls)


def parse_json(text: str) -> ParsedTurn:
    """The whole turn (optionally in a ```json fence) is a call, a list of calls or `{"tool_calls": [...]}`.

    Text that does not start like JSON is a final answer; text that does but does not parse is a malformed call.
    """
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    body = fenced.group(1).strip() if fenced else stripped
    if not body.startswith(("{", "[")):
        return ParsedTurn(text.strip())
    value, error = _loads(body)
    if error:
        return ParsedTurn(text.strip(), [ParsedCall(None, None, body, error)])
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    if isinstance(value, dict) and not ("name" in value or "function" in value):
        return ParsedTurn(text.strip())  # a JSON answer, not a call
    items = value if isinstance(value, list) else [value]
    return ParsedTurn("", [call_from_object(item, json.dumps(item)) for item in items])


PARSERS: dict[str, Parser] = {"hermes": parse_hermes, "json": parse_json}


def get_parser(spec: str) -> Parser:
    """A built-in parser by name, or a user's by import path (`package.module:function`)."""
    if spec in PARSERS:
        return PARSERS[spec]
    parser = load_object(spec)
    if not callable(parser):
        raise ValueError(f"tool-call parser {spec} is not callable")
    return parser
