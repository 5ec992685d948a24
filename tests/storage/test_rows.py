"""Samples as parquet rows: nested values as structs, free-form values as JSON text, read back unchanged."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from foundry.storage.shards import SCHEMA, parquet_bytes, sample_row
from foundry.types import Sample, Verdict

PROVENANCE = {
    "campaign": "tools",
    "model": "Qwen/Qwen2.5-7B-Instruct",
    "config_hash": "0123456789abcdef",
    "engine_args": {"tensor_parallel_size": 2, "max_model_len": 4096},
    "sampling_params": {"n": 4, "temperature": 0.8},
    "verifiers": [{"name": "length", "version": "1"}, {"name": "math", "version": "math-verify==0.9.0"}],
    "versions": {"vllm": "0.32.0", "ray": "2.60.0"},
    "replica": "replica-1",
    "created_at": "2026-01-01T00:00:00+00:00",
}

MESSAGES = [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "What is 17 * 23?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call-1", "type": "function", "function": {"name": "multiply", "arguments": {"a": 17, "b": 23}}},
        {"id": "call-2", "function": {"name": "lookup", "arguments": '{"q": "17*23"}'}},  # already a string
    ]},
    {"role": "tool", "content": "391", "tool_call_id": "call-1", "name": "multiply"},
    {"role": "assistant", "content": [{"type": "text", "text": "It is \\boxed{391}."}]},  # content parts
]


def tool_sample(**changes) -> Sample:
    values = dict(
        id="abc123", task_id="task-7", sample_index=2, prompt="<|im_start|>...", messages=MESSAGES,
        completion="It is \\boxed{391}.", reasoning="17*23 = 391", answer="It is \\boxed{391}.", final_answer="391",
        reference="391", tests=[{"input": "1 2", "output": "3"}],
        verdicts=[Verdict(verifier="length", passed=True, score=1.0, seconds=0.001),
                  Verdict(verifier="math", passed=False, score=0.25, reason="answer '390' != reference '391'",
                          seconds=0.125)],
        accepted=False, prompt_tokens=120, completion_tokens=48, finish_reason="stop", generation_seconds=2.5,
        trace={"turns": 2, "tools": ["multiply"]}, provenance=PROVENANCE,
    )
    return Sample(**{**values, **changes})


def read_back(rows: list[dict]) -> list[dict]:
    table = pq.read_table(io.BytesIO(parquet_bytes(rows)))
    assert table.schema.equals(SCHEMA)
    return table.to_pylist()


def test_a_row_has_exactly_the_schema_columns():
    row = sample_row(tool_sample())
    assert list(row) == SCHEMA.names


def test_tool_calls_keep_their_arguments_as_json_text():
    calls = sample_row(tool_sample())["messages"][2]["tool_calls"]
    assert calls[0] == {"id": "call-1", "type": "function",
                        "function": {"name": "multiply", "arguments": json.dumps({"a": 17, "b": 23})}}
    assert json.loads(calls[0]["function"]["arguments"]) == {"a": 17, "b": 23}
    assert calls[1] == {"id": "call-2", "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "17*23"}'}}, "strings are not re-encoded"


def test_messages_become_structs_with_every_field():
    messages = sample_row(tool_sample())["messages"]
    assert messages[0] == {"role": "system", "content": "You can call tools.", "tool_calls": None,
                           "tool_call_id": None, "name": None}
    assert messages[2]["content"] is None
    assert messages[3] == {"role": "tool", "content": "391", "tool_calls": None, "tool_call_id": "call-1",
                           "name": "multiply"}
    assert json.loads(messages[4]["content"]) == [{"type": "text", "text": "It is \\boxed{391}."}]


def test_free_form_fields_and_provenance_dicts_are_json_text():
    row = sample_row(tool_sample())
    assert json.loads(row["tests"]) == [{"input": "1 2", "output": "3"}]
    assert json.loads(row["trace"]) == {"turns": 2, "tools": ["multiply"]}
    provenance = row["provenance"]
    for name in ("engine_args", "sampling_params", "versions"):
        assert isinstance(provenance[name], str)
        assert json.loads(provenance[name]) == PROVENANCE[name]
    assert provenance["engine_args"] == json.dumps(PROVENANCE["engine_args"], sort_keys=True), "stable text"
    assert provenance["verifiers"] == PROVENANCE["verifiers"], "verifiers stay a list of structs"
    assert (provenance["replica"], provenance["created_at"]) == ("replica-1", "2026-01-01T00:00:00+00:00")


def test_parquet_round_trip_gives_the_same_values():
    sample = tool_sample()
    [back] = read_back([sample_row(sample)])
    assert back == sample_row(sample)
    for name in ("id", "task_id", "sample_index", "prompt", "completion", "reasoning", "answer", "final_answer",
                 "reference", "accepted", "prompt_tokens", "completion_tokens", "finish_reason",
                 "generation_seconds"):
        assert back[name] == getattr(sample, name), name
    assert [Verdict(**v) for v in back["verdicts"]] == sample.verdicts
    assert json.loads(back["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"a": 17, "b": 23}
    assert json.loads(back["trace"]) == sample.trace and json.loads(back["tests"]) == sample.tests
    assert json.loads(back["provenance"]["sampling_params"]) == PROVENANCE["sampling_params"]


def test_a_bare_sample_round_trips_with_nulls():
    bare = Sample(id="x", task_id="t", sample_index=0)
    [back] = read_back([sample_row(bare)])
    assert back["messages"] is None and back["tests"] is None and back["trace"] is None
    assert back["verdicts"] == [] and back["accepted"] is False and back["completion"] == ""
    assert back["provenance"] == {field.name: None for field in SCHEMA.field("provenance").type}


def test_provenance_given_as_json_text_is_kept_as_is():
    text = '{"n": 1}'
    row = sample_row(tool_sample(provenance={**PROVENANCE, "sampling_params": text}))
    assert row["provenance"]["sampling_params"] == text


@pytest.mark.parametrize("arguments", [{}, {"nested": {"list": [1, 2]}}, "", "not json at all", None])
def test_any_tool_call_arguments_survive_the_round_trip(arguments):
    messages = [{"role": "assistant", "content": "",
                 "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}]}]
    [back] = read_back([sample_row(tool_sample(messages=messages))])
    stored = back["messages"][0]["tool_calls"][0]["function"]["arguments"]
    assert stored == (arguments if isinstance(arguments, str) else json.dumps(arguments))


def test_many_rows_keep_their_order():
    samples = [tool_sample(id=f"s{i}", sample_index=i, accepted=i % 2 == 0) for i in range(5)]
    back = read_back([sample_row(s) for s in samples])
    assert [(r["id"], r["sample_index"], r["accepted"]) for r in back] == [
        (s.id, s.sample_index, s.accepted) for s in samples
    ]
