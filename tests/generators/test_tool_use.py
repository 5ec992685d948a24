"""The agent loop on a scripted fake engine: stop reasons, budgets, message format, trace stats, the generator."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ConfigDict

from foundry.campaign import make_generator
from foundry.config import CampaignConfig, GeneratorConfig, ToolUseGeneratorConfig
from foundry.generators.engine import GenerationRequest, GenerationResult
from foundry.generators.reasoning import PromptError
from foundry.generators.tool_use import AgentLoop, RolloutCompletion, ToolUseGenerator, run_rollouts, template_messages
from foundry.generators.tools.base import ToolOutput
from foundry.generators.tools.parsers import parse_hermes
from foundry.generators.tools.toolbox import Toolbox
from foundry.types import Completion, Task


def call(code: str, name: str = "calc") -> str:
    return f'<tool_call>{{"name": "{name}", "arguments": {{"expr": "{code}"}}}}</tool_call>'


class CalcTool:
    """Evaluates arithmetic on the host: enough of a tool to drive the loop without a sandbox."""

    name, description, timeout_seconds, grace_seconds, max_output_chars = "calc", "evaluate", 0.5, 0.0, 100

    class arguments(BaseModel):  # noqa: N801 - the Tool protocol's attribute
        model_config = ConfigDict(extra="forbid")
        expr: str

    def run(self, arguments, state):
        if arguments.expr == "sleep":
            import time

            time.sleep(2)
        state["calls"] = state.get("calls", 0) + 1
        return ToolOutput(f"{eval(arguments.expr, {})}\n")  # noqa: S307 - test input only

    def close(self):
        pass


class FakeReplica:
    """Plays a scripted list of turns (the last repeats); counts words as tokens."""

    replica_id = "fake-0"

    def __init__(self, turns, max_model_len=None, delay=0.0, finish="stop"):
        self.turns, self.delay, self.finish = turns, delay, finish
        self.requests: list[GenerationRequest] = []
        self.active = self.peak = 0
        self.toolboxes: dict = {}
        self.tokenizer = SimpleNamespace(encode=lambda text, add_special_tokens=False: text.split())
        self.engine = SimpleNamespace(model_config=SimpleNamespace(max_model_len=max_model_len))

    def render(self, request):
        lines = [f"{m['role']}: {m.get('content') or ''} {json.dumps(m.get('tool_calls') or '')}"
                 for m in request.messages]
        return "\n".join(lines) + "\nassistant:"

    async def generate(self, request):
        assert request.rollout is None and request.sampling["n"] == 1
        self.requests.append(request)
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(self.delay)
        self.active -= 1
        text = self.turns[min(len(self.requests) - 1, len(self.turns) - 1)]
        if isinstance(text, Exception):
            raise text
        completion = Completion(text=text, completion_tokens=len(text.split()), finish_reason=self.finish)
        return GenerationResult(request.request_id, request.prompt, len(request.prompt.split()), [completion], 0.01,
                                self.replica_id)


def config(**changes) -> ToolUseGeneratorConfig:
    return ToolUseGeneratorConfig(tools=[{"kind": "python"}], **changes)


def rollout(turns, **changes) -> tuple[RolloutCompletion, FakeReplica]:
    replica = FakeReplica(turns, **{k: changes.pop(k) for k in ("max_model_len", "delay", "finish") if k in changes})
    loop = AgentLoop(replica, config(**changes), Toolbox([CalcTool()], workers=2), parse_hermes)
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    return asyncio.run(loop.run("req", messages, {"n": 1, "max_tokens": 64, "temperature": 1.0})), replica


def test_tool_call_then_final_answer():
    done, replica = rollout([call("2 + 2"), "It is \\boxed{4}."])
    trace = done.trace
    assert trace["stop_reason"] == "final_answer" and trace["turns"] == 2 and trace["tool_calls"] == 1
    assert trace["tool_errors"] == 0 and trace["invalid_tool_calls"] == 0 and trace["error"] is None
    user, assistant, tool, final = done.messages
    assert assistant == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_0_0", "type": "function", "function": {"name": "calc", "arguments": '{"expr": "2 + 2"}'}}]}
    assert tool == {"role": "tool", "tool_call_id": "call_0_0", "name": "calc", "content": "4\n"}
    assert final == {"role": "assistant", "content": "It is \\boxed{4}."}
    assert done.text == "It is \\boxed{4}." and done.finish_reason == "stop"
    assert done.completion_tokens == trace["completion_tokens"] == len(call("2 + 2").split()) + 3
    assert done.prompt == replica.requests[0].prompt and done.prompt_tokens == trace["turn_stats"][0]["prompt_tokens"]
    assert trace["tools"][0]["function"]["name"] == "calc" and trace["calls"][0]["name"] == "calc"
    # the second turn's prompt holds the tool result; turn ids are distinct engine requests
    assert "4\\n" in replica.requests[1].prompt or "4" in replica.requests[1].prompt
    assert [r.request_id for r in replica.requests] == ["req-t0", "req-t1"]


def test_runaway_loop_ends_at_max_turns():
    done, replica = rollout([call("1")], max_turns=3)
    assert done.trace["stop_reason"] == "max_turns" and done.trace["turns"] == 3 and len(replica.requests) == 3
    assert done.messages[-1]["role"] == "tool"


def test_tool_call_budget():
    done, _ = rollout([call("1") + call("2")], max_tool_calls=3)
    assert done.trace["stop_reason"] == "max_tool_calls" and done.trace["tool_calls"] == 2


def test_malformed_and_unknown_calls_are_fed_back_and_counted():
    turns = ['<tool_call>{"name": "calc", "arguments": </tool_call>', call("1", name="nope"),
             '<tool_call>{"name": "calc", "arguments": {"expr": 7}}</tool_call>', "\\boxed{4}"]
    done, replica = rollout(turns)
    trace = done.trace
    assert trace["stop_reason"] == "final_answer" and trace["invalid_tool_calls"] == 3 == trace["tool_errors"]
    errors = [m["content"] for m in done.messages if m["role"] == "tool"]
    assert "invalid JSON" in errors[0] and "unknown tool 'nope'" in errors[1] and "expr" in errors[2]
    assert done.messages[1] == {"role": "assistant", "content": turns[0]}  # unreadable: kept as written
    assert done.messages[2]["tool_call_id"] == "call_0_0" and done.messages[3]["tool_calls"][0]["function"] == {
        "name": "nope", "arguments": '{"expr": "1"}'}
    assert done.messages[5]["tool_calls"][0]["function"]["arguments"] == '{"expr": 7}'
    assert "invalid JSON" in replica.requests[1].prompt  # the model saw its error


def test_conversation_token_budget():
    done, replica = rollout([call("1")], max_total_tokens=40)
    assert done.trace["stop_reason"] == "max_tokens" and len(replica.requests) < 8
    assert all(r.sampling["max_tokens"] <= 40 for r in replica.requests)
    capped, _ = rollout([call("1")], max_model_len=30)  # the engine's context caps the budget too
    assert capped.trace["stop_reason"] == "max_tokens"


def test_truncated_final_turn_is_max_tokens():
    done, _ = rollout(["The answer is"], finish="length")
    assert done.trace["stop_reason"] == "max_tokens"


def test_wall_clock_budget_covers_slow_tools():
    done, _ = rollout([call("sleep"), "\\boxed{4}"], max_wall_seconds=0.3)
    assert done.trace["stop_reason"] == "timeout" and done.trace["seconds"] < 1.5


def test_tool_timeout_is_an_error_message_not_a_stop():
    done, _ = rollout([call("sleep"), "\\boxed{4}"])
    assert done.trace["stop_reason"] == "final_answer" and done.trace["calls"][0]["timed_out"]
    assert done.messages[2]["content"].startswith("Error: no result within 0.5 s")


def test_parser_bug_is_recorded_as_error():
    replica = FakeReplica(["x"])
    loop = AgentLoop(replica, config(), Toolbox([CalcTool()]), lambda text: 1 / 0)
    done = asyncio.run(loop.run("r", [{"role": "user", "content": "q"}], {"max_tokens": 8}))
    assert done.trace["stop_reason"] == "error" and "ZeroDivisionError" in done.trace["error"]


def test_engine_failure_propagates():
    with pytest.raises(RuntimeError, match="engine dead"):
        rollout([RuntimeError("engine dead")])


def test_turn_structured_outputs_by_turn_index_last_repeats():
    outputs = [{"regex": "a"}, {"regex": "b"}]
    _, replica = rollout([call("1")], max_turns=4, turn_structured_outputs=outputs)
    assert [r.structured_outputs for r in replica.requests] == [{"regex": "a"}, {"regex": "b"}, {"regex": "b"},
                                                                {"regex": "b"}]


def test_run_rollouts_runs_n_concurrently_and_caches_the_toolbox(monkeypatch):
    import foundry.generators.tool_use as tool_use

    built = []
    monkeypatch.setattr(tool_use, "build_toolbox", lambda tools, workers: built.append(1) or Toolbox([CalcTool()]))
    replica = FakeReplica([call("3 * 3"), "\\boxed{9}"] * 3, delay=0.05)
    request = GenerationRequest("task-1", {"n": 3, "max_tokens": 32}, messages=[{"role": "user", "content": "q"}],
                                rollout=config())
    result = asyncio.run(run_rollouts(replica, request))
    asyncio.run(run_rollouts(replica, request))
    assert len(result.completions) == 3 and built == [1]
    assert {c.trace["stop_reason"] for c in result.completions} <= {"final_answer", "max_turns"}
    assert result.replica == "fake-0" and replica.peak == 3  # the three rollouts were in the engine together
    assert {r.request_id.rsplit("-t", 1)[0] for r in replica.requests} == {"task-1-r0", "task-1-r1", "task-1-r2"}


def test_template_messages_turns_arguments_into_objects():
    messages = [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "d", "type": "function", "function": {"name": "g", "arguments": "{broken"}}]}]
    out = template_messages(messages)
    assert out[0]["tool_calls"][0]["function"]["arguments"] == {"x": 1}
    assert out[0]["tool_calls"][1]["function"]["arguments"] == "{broken"
    assert messages[0]["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'  # input untouched


def test_generator_request_and_sample():
    generator = ToolUseGenerator(config(system_prompt="Use tools.", prompt_template="Q: {prompt}"))
    task = Task(id="t1", prompt="2 + 2?", reference="4")
    request = generator.request(task, "rid", {"n": 2})
    assert request.rollout is generator.config and request.messages[0] == {"role": "system", "content": "Use tools."}
    assert request.messages[1] == {"role": "user", "content": "Q: 2 + 2?"}
    done, _ = rollout([call("2 + 2"), "<think>easy</think>It is \\boxed{4}."])
    sample = generator.sample(task, None, done, "sid", 3)
    assert (sample.reasoning, sample.answer, sample.final_answer) == ("easy", "It is \\boxed{4}.", "4")
    assert sample.messages == done.messages and sample.trace["stop_reason"] == "final_answer"
    assert sample.completion_tokens == done.completion_tokens and sample.sample_index == 3
    with pytest.raises(PromptError):
        ToolUseGenerator(config(prompt_template="{missing}")).request(task, "r", {})


def test_config_kind_selects_the_generator():
    base = {"name": "c", "source": {"path": "x.jsonl"}, "output": {"path": "o"}}
    plain = CampaignConfig.model_validate(base)
    assert isinstance(plain.generator, GeneratorConfig) and type(make_generator(plain.generator)).__name__ == (
        "ReasoningGenerator")
    tooled = CampaignConfig.model_validate({**base, "generator": {"kind": "tool_use", "tools": [{"kind": "python"}]}})
    assert isinstance(make_generator(tooled.generator), ToolUseGenerator)
    with pytest.raises(ValueError, match="trace verifier"):
        CampaignConfig.model_validate({**base, "verifiers": [{"kind": "trace"}]})
    with pytest.raises(ValueError, match="unique"):
        ToolUseGeneratorConfig(tools=[{"kind": "python"}, {"kind": "python"}])
    with pytest.raises(ValueError, match="request_timeout_seconds"):  # the watchdog must not take rollouts for hangs
        CampaignConfig.model_validate({**base, "generator": {"kind": "tool_use", "tools": [{"kind": "python"}],
                                                             "max_wall_seconds": 900}})
