"""Tool-use rollouts end to end: real vLLM (CPU build) on the tiny model, tools run in the real bubblewrap sandbox.

Structured outputs steer the random model turn by turn (call python with valid JSON, then answer), so everything
around the model — parsing, real tool execution, budgets, verification, shards, datasets, chat templates — is real.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures.engine import campaign_yaml

from foundry.campaign import Campaign
from foundry.config import TraceVerifierConfig, load_config
from foundry.generators.tool_use import ToolUseGenerator, template_messages
from foundry.types import Task
from foundry.verifiers.trace import TraceVerifier

pytestmark = pytest.mark.e2e

UID_CALL = r'<tool_call>\{"name": "python", "arguments": \{"code": "import os; print\(os\.getuid\(\)\)"\}\}</tool_call>'
SHORT_CALL = r'<tool_call>\{"name": "python", "arguments": \{"code": "print\(7\)"\}\}</tool_call>'
BROKEN_JSON = r'<tool_call>\{"name": "python", "arguments": \{"code": "print\(1\)"\}</tool_call>'
BAD_SCHEMA = r'<tool_call>\{"name": "python", "arguments": \{"code": 7\}\}</tool_call>'
BUSY_LOOP = r'<tool_call>\{"name": "python", "arguments": \{"code": "while True: pass"\}\}</tool_call>'
ANSWER = r"The answer is \\boxed\{(4|5)\}\."


def rows(output: Path, split: str = "*") -> list[dict]:
    files = sorted(glob.glob(str(output / "data" / f"{split}-*.parquet")))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def tool_run(replica_pool, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tool-use")
    config = load_config(campaign_yaml(tmp, "tool_use"))
    manifest = Campaign(config, replicas=replica_pool).run()
    return config, manifest, tmp / "out"


def test_tool_runs_for_real_and_its_output_is_in_the_trace(tool_run):
    _, manifest, out = tool_run
    accepted, rejected = rows(out, "accepted"), rows(out, "rejected")
    assert accepted and rejected and manifest.tasks_completed == 10
    for row in accepted + rejected:
        trace = json.loads(row["trace"])
        assert (trace["stop_reason"], trace["turns"], trace["tool_calls"], trace["tool_errors"]) == (
            "final_answer", 2, 1, 0)
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
        call = row["messages"][2]["tool_calls"][0]
        assert call["type"] == "function" and call["function"]["name"] == "python"
        a, b = re.fullmatch(r"print\((\d) \+ (\d)\)", json.loads(call["function"]["arguments"])["code"]).groups()
        tool = row["messages"][3]
        assert tool["tool_call_id"] == call["id"] and tool["content"] == f"{int(a) + int(b)}\n"  # executed, not faked
        assert trace["calls"][0]["seconds"] > 0 and trace["completion_tokens"] == row["completion_tokens"]
        assert row["final_answer"] in {"4", "5"} and row["accepted"] == (row["final_answer"] == row["reference"])
        assert [v["verifier"] for v in row["verdicts"]][0] == "trace" and row["verdicts"][0]["passed"]


def test_trace_loads_with_datasets_and_round_trips_the_chat_template(tool_run, tmp_path, monkeypatch):
    import datasets
    from transformers import AutoTokenizer

    from foundry.config import TINY_MODEL
    from foundry.generators.tiny_model import resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    _, manifest, out = tool_run
    files = sorted(f for split in ("accepted", "rejected") for f in glob.glob(str(out / "data" / f"{split}-*.parquet")))
    dataset = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
    assert len(dataset) == manifest.accepted + manifest.rejected
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(TINY_MODEL))
    for row in dataset.select(range(3)):
        messages, tools = row["messages"], json.loads(row["trace"])["tools"]
        for chat in (messages, template_messages(messages)):
            text = tokenizer.apply_chat_template(chat, tools=tools, tokenize=False)
            assert text.startswith(row["prompt"])  # the engine's first prompt is a prefix of the stored chat
            assert f"<tool_response>\n{messages[3]['content']}\n</tool_response>" in text
            assert messages[2]["tool_calls"][0]["function"]["arguments"] in text and messages[4]["content"] in text


# The engine's context is 512 tokens and a tool round costs ~70 of them: the budgets below fit in it.
FAILURES = {
    # name: (generator changes, expected stop reason)
    "runaway loop": ({"turn_structured_outputs": [{"regex": SHORT_CALL}], "max_turns": 3}, "max_turns"),
    "tool budget": ({"turn_structured_outputs": [{"regex": UID_CALL}], "max_tool_calls": 1}, "max_tool_calls"),
    "token budget": ({"turn_structured_outputs": [{"regex": SHORT_CALL}], "max_total_tokens": 360}, "max_tokens"),
    "unreadable call": ({"turn_structured_outputs": [{"regex": BROKEN_JSON}, {"regex": ANSWER}]}, "final_answer"),
    "schema-invalid call": ({"turn_structured_outputs": [{"regex": BAD_SCHEMA}, {"regex": ANSWER}]}, "final_answer"),
    # two busy-looping calls need 4 s of tool time: the 3.5 s rollout clock runs out first, whatever the engine's pace
    "tool and rollout timeouts": ({"turn_structured_outputs": [{"regex": BUSY_LOOP}], "max_wall_seconds": 3.5,
                                   "max_turns": 2, "tools": [{"timeout_seconds": 2.0}]}, "timeout"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_failures_end_in_recorded_stop_reasons(replica_pool, tmp_path, case):
    changes, expected = FAILURES[case]
    base = load_config(campaign_yaml(tmp_path, "tool_use")).generator
    generator = ToolUseGenerator(base.model_copy(update={
        "system_prompt": None, "max_turns": 4, "max_tool_calls": 8, **changes,
        "tools": [base.tools[0].model_copy(update=t) for t in changes.get("tools", [{}])],
    }))
    task = Task(id="t", prompt="What is 2 + 2?", reference="4")
    # Under a regex the random model may spell a call in up to one token per character: room for the longest.
    sampling = {"n": 2, "max_tokens": 128, "temperature": 1.0}
    request = generator.request(task, f"failure-{case.replace(' ', '-')}", sampling)
    result = asyncio.run(replica_pool.generate(request))
    assert len(result.completions) == 2
    for completion in result.completions:
        trace, messages = completion.trace, completion.messages
        assert trace["stop_reason"] == expected, (trace, messages)
        sample = generator.sample(task, result, completion, "sid", 0)
        verdict = TraceVerifier(TraceVerifierConfig()).verify(sample)
        assert not verdict.passed  # none of these is training data
        if case == "runaway loop":
            outputs = [m["content"] for m in messages if m["role"] == "tool"]
            assert outputs == ["7\n"] * 3 and trace["turns"] == 3 and trace["tool_errors"] == 0
        elif case == "tool budget":
            permissive = TraceVerifierConfig(stop_reasons=["max_tool_calls"])
            assert trace["tool_calls"] == 1 and "max_tool_calls" in verdict.reason
            assert "has no result" in TraceVerifier(permissive).verify(sample).reason
            if os.geteuid() == 0:
                assert messages[2]["content"] == "65534\n"  # ran as the sandbox's unprivileged user
        elif case == "token budget":
            assert trace["context_tokens"] <= 360 and trace["turns"] >= 1
        elif case in ("unreadable call", "schema-invalid call"):
            assert trace["invalid_tool_calls"] == 1 and trace["turns"] == 2 and "invalid tool call" in verdict.reason
            assert messages[2]["role"] == "tool" and messages[3]["content"] == sample.completion
            if case == "unreadable call":
                assert "invalid JSON" in messages[2]["content"]
                assert "tool_calls" not in messages[1]
                assert messages[1]["content"].startswith("<tool_call>")  # kept as written
            else:
                assert "code: Input should be a valid string" in messages[2]["content"]
                assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"code": 7}
        else:
            assert trace["calls"] and all(c["timed_out"] for c in trace["calls"])
            # the 3.5 s rollout clock ended it (asyncio may fire a timer up to a millisecond early), not a 2 s tool
            assert 3.45 <= trace["seconds"] < 8 and "timed out after 2 s" in messages[2]["content"]
