"""One way from a completion to a sample: the reasoning generator, tool-use rollouts and `foundry verify` agree;
the JSONL reader they share; tool use owned by `ToolUseReplica`, not by the engine wrapper."""

from __future__ import annotations

import asyncio

import pytest

from foundry.config import CampaignConfig, GeneratorConfig, ToolUseGeneratorConfig
from foundry.generators.reasoning import ReasoningGenerator
from foundry.generators.tool_use import RolloutCompletion, ToolUseGenerator, ToolUseReplica
from foundry.recheck import to_sample
from foundry.sources import SkipReason, SourceError, read_jsonl
from foundry.types import Completion, GenerationRequest, GenerationResult, Task

TEXT = "<think>17 * 3 = 51, minus 9</think>She has 51 - 9 = 42 left.\nThe answer is: 42."
EXPECTED = ("17 * 3 = 51, minus 9", "She has 51 - 9 = 42 left.\nThe answer is: 42.", "42", "answer_is")


def fields(sample):
    return sample.reasoning, sample.answer, sample.final_answer, sample.answer_source


def test_the_three_sample_builders_read_a_completion_the_same_way():
    task = Task(id="t1", prompt="q", reference="42")
    completion = Completion(text=TEXT, completion_tokens=30, finish_reason="stop")
    result = GenerationResult("r", "prompt", 5, [completion], 0.5, "replica-0")
    reasoning = ReasoningGenerator(GeneratorConfig()).sample(task, result, completion, "s", 0)

    tool_config = ToolUseGeneratorConfig(tools=[{"kind": "python"}])
    rollout = RolloutCompletion(text=TEXT, completion_tokens=30, finish_reason="stop", messages=[], trace={},
                                prompt="prompt", prompt_tokens=5)
    tool = ToolUseGenerator(tool_config).sample(task, result, rollout, "s", 0)

    config = CampaignConfig(name="c", source={"path": "t.jsonl"}, output={"path": "out"}, verifiers=[{"kind": "math"}])
    recheck = to_sample({"task_id": "t1", "completion": TEXT, "reference": "42", "finish_reason": "stop"}, 0, config)
    assert fields(reasoning) == fields(tool) == fields(recheck) == EXPECTED
    assert reasoning.completion == tool.completion == recheck.completion == TEXT
    assert reasoning.finish_reason == tool.finish_reason == recheck.finish_reason == "stop"


class Replica(ToolUseReplica):
    def __init__(self):  # no engine: `GeneratorReplica.generate` is replaced below
        self.replica_id, self.toolboxes, self.plain = "replica-0", {}, []


def test_tool_use_replica_sends_rollouts_to_the_agent_loop_and_the_rest_to_the_engine(monkeypatch):
    import foundry.generators.engine as engine
    import foundry.generators.tool_use as tool_use

    async def plain(self, request):
        self.plain.append(request.request_id)
        return "plain"

    async def rollouts(replica, request):
        return f"rollout of {request.request_id}"

    monkeypatch.setattr(engine.GeneratorReplica, "generate", plain)
    monkeypatch.setattr(tool_use, "run_rollouts", rollouts)
    rep = Replica()
    assert asyncio.run(rep.generate(GenerationRequest("a", {"n": 1}, prompt="p"))) == "plain"
    assert asyncio.run(rep.generate(GenerationRequest("b", {"n": 1}, messages=[], rollout=object()))) == "rollout of b"
    assert rep.plain == ["a"]


def test_read_jsonl_numbers_lines_and_names_bad_ones(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n\n[1, 2]\nnot json\n{"b": "\xff"}\n')
    rows = list(read_jsonl(path))
    assert [n for n, _ in rows] == [0, 2, 3, 4]
    assert rows[0][1] == {"a": 1} and rows[1][1] == [1, 2]
    assert isinstance(rows[2][1], SkipReason) and rows[2][1].startswith("invalid JSON")
    assert rows[3][1] == {"b": "\ufffd"}  # undecodable bytes are replaced, not fatal
    with pytest.raises(SourceError, match=r"^--input: no such file .*missing\.jsonl$"):
        list(read_jsonl(tmp_path / "missing.jsonl", "--input"))
