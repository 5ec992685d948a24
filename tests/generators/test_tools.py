"""Tools and tool-call parsers: parsing tables from real model output shapes, schemas, limits, the real sandbox."""

from __future__ import annotations

import asyncio
import json
import textwrap

import pytest
from pydantic import BaseModel, ConfigDict

from foundry.config import FunctionToolConfig, PythonToolConfig, SearchToolConfig
from foundry.generators.tools import build_toolbox
from foundry.generators.tools.base import ToolOutput, cap_output
from foundry.generators.tools.function import FunctionTool, ToolDefinitionError, describe
from foundry.generators.tools.parsers import ParsedCall, get_parser, parse_hermes, parse_json
from foundry.generators.tools.python import replay_program
from foundry.generators.tools.search import BM25, SearchTool
from foundry.generators.tools.toolbox import Toolbox

HERMES_CASES = [
    # (model text, content, [(name, arguments, error substring)])
    ('<tool_call>{"name": "python", "arguments": {"code": "print(1)"}}</tool_call>', "",
     [("python", {"code": "print(1)"}, None)]),
    ('Let me compute.\n<tool_call>\n{"name": "search", "arguments": {"query": "x"}}\n</tool_call>', "Let me compute.",
     [("search", {"query": "x"}, None)]),
    ('<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>{"name": "b"}</tool_call>', "",
     [("a", {}, None), ("b", {}, None)]),
    ('<tool_call>{"name": "a", "arguments": "{\\"x\\": 1}"}</tool_call>', "", [("a", {"x": 1}, None)]),
    ("The answer is \\boxed{4}.", "The answer is \\boxed{4}.", []),
    # unreadable calls stay in the content, as written
    ('<tool_call>{"name": "python", "arguments": </tool_call>',
     '<tool_call>{"name": "python", "arguments": </tool_call>', [(None, None, "invalid JSON")]),
    ('I will call.<tool_call>{"name": "python", "arguments": {"code": "1"',
     'I will call.<tool_call>{"name": "python", "arguments": {"code": "1"', [(None, None, "unclosed")]),
    ('<tool_call>["python"]</tool_call> and <tool_call>{"name": "a"}</tool_call>',
     '<tool_call>["python"]</tool_call> and', [(None, None, "string `name`"), ("a", {}, None)]),
    ('<tool_call>{"name": "python", "arguments": [1]}</tool_call>', "", [("python", None, "must be a JSON object")]),
    ('<tool_call>{"name": "f", "arguments": "{bad"}</tool_call>', "", [("f", None, "not valid JSON")]),
]


@pytest.mark.parametrize(("text", "content", "calls"), HERMES_CASES)
def test_hermes_parser(text, content, calls):
    turn = parse_hermes(text)
    assert turn.content == content
    assert len(turn.calls) == len(calls)
    for call, (name, arguments, error) in zip(turn.calls, calls, strict=True):
        assert (call.name, call.arguments) == (name, arguments)
        assert (call.error is None) if error is None else (error in call.error)


JSON_CASES = [
    ('{"name": "python", "arguments": {"code": "print(2)"}}', [("python", {"code": "print(2)"}, None)]),
    ('```json\n{"name": "f", "parameters": {"x": 1}}\n```', [("f", {"x": 1}, None)]),
    ('[{"name": "a", "arguments": {}}, {"type": "function", "function": {"name": "b", "arguments": "{}"}}]',
     [("a", {}, None), ("b", {}, None)]),
    ('{"tool_calls": [{"function": {"name": "c", "arguments": "{\\"k\\": true}"}}]}', [("c", {"k": True}, None)]),
    ('{"name": "python", "arguments": {"code": ', [(None, None, "invalid JSON")]),
    ("The answer is 4.", []),
    ('{"answer": 4}', []),
]


@pytest.mark.parametrize(("text", "calls"), JSON_CASES)
def test_json_parser(text, calls):
    turn = parse_json(text)
    assert [(c.name, c.arguments) for c in turn.calls] == [(n, a) for n, a, _ in calls]
    for call, (_, _, error) in zip(turn.calls, calls, strict=True):
        assert (call.error is None) if error is None else (error in call.error)
    if not calls:
        assert turn.content == text


def test_parser_by_import_path():
    assert get_parser("hermes") is parse_hermes and get_parser("json") is parse_json
    custom = get_parser("foundry.generators.tools.parsers:parse_json")
    assert custom('{"name": "x"}').calls[0].name == "x"
    with pytest.raises(ToolDefinitionError, match="cannot import"):
        get_parser("no_such_module_xyz:parse")


def test_bm25_ranks_the_matching_document_first():
    index = BM25(["the cat sat on the mat", "dogs chase cats", "stock prices fell sharply", "the the the"])
    assert index.top("stock prices", 2)[0][0] == 2
    assert index.top("cat mat", 1)[0][0] == 0
    assert index.top("nothing matches", 3) == []


def test_search_tool_over_jsonl(tmp_path):
    corpus = tmp_path / "docs.jsonl"
    rows = [{"title": "Paris", "text": "Paris is the capital of France."},
            {"title": "Rome", "text": "Rome is the capital of Italy."}, {"no_text": 1}]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    tool = SearchTool(SearchToolConfig(corpus=str(corpus), top_k=1))
    output = tool.run(tool.arguments(query="capital of Italy"), {})
    assert output.content.startswith("[1] Rome\n") and output.error is None
    assert len(tool.documents) == 2


def _write_module(tmp_path, monkeypatch, source: str) -> str:
    (tmp_path / "user_tools_mod.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_tools_mod"


def test_function_tool_schema_from_type_hints_and_docstring(tmp_path, monkeypatch):
    module = _write_module(tmp_path, monkeypatch, '''
        def convert(amount: float, currency: str = "EUR") -> dict:
            """Convert an amount of US dollars.

            Args:
                amount: Dollars to convert.
                currency (str): Target currency code.
            """
            return {"amount": amount * 2, "currency": currency}

        def untyped(x):
            return x
    ''')
    tool = FunctionTool(FunctionToolConfig(path=f"{module}:convert"))
    schema = Toolbox([tool]).schemas[0]
    assert schema["function"]["name"] == "convert"
    assert schema["function"]["description"] == "Convert an amount of US dollars."
    params = schema["function"]["parameters"]
    assert params["required"] == ["amount"] and params["properties"]["amount"]["type"] == "number"
    assert params["properties"]["currency"]["description"] == "Target currency code."
    assert "title" not in params
    assert json.loads(tool.run(tool.arguments(amount=3), {}).content) == {"amount": 6.0, "currency": "EUR"}
    with pytest.raises(ToolDefinitionError, match="no type hint"):
        FunctionTool(FunctionToolConfig(path=f"{module}:untyped"))
    assert describe(lambda: None) == ("", {})


def _run(toolbox, call, state=None):
    return asyncio.run(toolbox.execute(call, {} if state is None else state))


class SlowTool:
    """A tool that ignores its timeout, as a careless user function would."""

    name, description, timeout_seconds, grace_seconds, max_output_chars = "slow", "sleeps", 0.2, 0.0, 50

    class arguments(BaseModel):  # noqa: N801 - mirrors the Tool protocol's attribute
        model_config = ConfigDict(extra="forbid")

        seconds: float = 0.0
        text: str = ""

    def run(self, arguments, state):
        import time

        time.sleep(arguments.seconds)
        if arguments.text == "raise":
            raise ValueError("bad input")
        return ToolOutput(arguments.text)

    def close(self):
        pass


def test_toolbox_turns_every_failure_into_an_error_result():
    box = Toolbox([SlowTool()], workers=2)
    try:
        bad_json = _run(box, ParsedCall(None, None, "{", "invalid JSON"))
        assert not bad_json.valid and bad_json.content.startswith("Error: unreadable tool call")
        unknown = _run(box, ParsedCall("nope", {}, "{}"))
        assert not unknown.valid and "unknown tool 'nope'" in unknown.content and "slow" in unknown.content
        schema = _run(box, ParsedCall("slow", {"seconds": "soon", "extra": 1}, "{}"))
        assert not schema.valid and "seconds" in schema.error and "extra" in schema.error
        raised = _run(box, ParsedCall("slow", {"text": "raise"}, "{}"))
        assert raised.valid and raised.error == "ValueError: bad input" and "bad input" in raised.content
        timeout = _run(box, ParsedCall("slow", {"seconds": 1.0}, "{}"))
        assert timeout.timed_out and timeout.error == "timeout" and timeout.seconds < 0.9
        long = _run(box, ParsedCall("slow", {"text": "x" * 500}, "{}"))
        assert long.truncated and len(long.content) == 50 and "cut ...]" in long.content
        ok = _run(box, ParsedCall("slow", {"text": "fine"}, "{}"))
        assert (ok.content, ok.error, ok.valid) == ("fine", None, True)
    finally:
        box.close()


def test_cap_output_keeps_short_text():
    assert cap_output("abc", 10) == ("abc", False)


def test_replay_program_hides_earlier_output():
    program = replay_program(["x = 2\nprint('old')"], "print(x * 21)")
    namespace: dict = {}
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(program, "p", "exec"), namespace)
    assert buffer.getvalue() == "42\n"


@pytest.fixture(scope="module")
def python_box():
    box = build_toolbox([PythonToolConfig(timeout_seconds=1.0, max_output_chars=200),
                         PythonToolConfig(name="notebook", stateful=True, timeout_seconds=2.0)], workers=2)
    yield box
    box.close()


def test_python_tool_runs_in_the_sandbox(python_box):
    result = _run(python_box, ParsedCall("python", {"code": "import os, socket\nprint(os.getuid(), 6 * 7)\n"
                                                              "socket.create_connection(('1.1.1.1', 53), 1)"}, ""))
    assert result.content.startswith("65534 42\n") and "OSError" in result.content  # unprivileged, no network
    assert result.error and "Error" in result.error


def test_python_tool_timeout_and_output_cap(python_box):
    slow = _run(python_box, ParsedCall("python", {"code": "while True: pass"}, ""))
    assert slow.timed_out and slow.error == "timeout" and "timed out" in slow.content
    loud = _run(python_box, ParsedCall("python", {"code": "print('y' * 5000)"}, ""))
    assert loud.truncated and len(loud.content) == 200


def test_stateful_python_replays_successful_cells_only(python_box):
    state: dict = {}
    first = _run(python_box, ParsedCall("notebook", {"code": "x = 40\nprint('set')"}, ""), state)
    broken = _run(python_box, ParsedCall("notebook", {"code": "x = 1\n1/0"}, ""), state)
    again = _run(python_box, ParsedCall("notebook", {"code": "print(x + 2)"}, ""), state)
    assert first.content == "set\n" and "ZeroDivisionError" in broken.error
    assert again.content == "42\n"
    fresh = _run(python_box, ParsedCall("python", {"code": "print(x)"}, ""), state)
    assert "NameError" in fresh.error  # the stateless tool keeps nothing
