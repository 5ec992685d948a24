"""The engine wrapper without vLLM's engine: chat-template arguments and the reasoning parser pass through, the
reasoning vLLM separates lands in `reasoning` (the think-tag split does not run again), and tool use stays out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from foundry.config import GeneratorConfig, TINY_MODEL
from foundry.generators.engine import GeneratorReplica, ReasoningSplitter
from foundry.generators.reasoning import ReasoningGenerator
from foundry.generators.tiny_model import resolve_model
from foundry.types import GenerationRequest, Task

TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            "<|im_start|>assistant\n{% if enable_thinking %}<think>\n{% else %}<think></think>{% endif %}")


@pytest.fixture(scope="module")
def tokenizer():
    tok = AutoTokenizer.from_pretrained(resolve_model(TINY_MODEL))
    tok.add_tokens(["<think>", "</think>"])
    tok.chat_template = TEMPLATE
    return tok


class FakeEngine:
    """AsyncLLM's `generate` as the replica calls it: records its arguments, answers canned texts."""

    def __init__(self, texts):
        self.texts, self.calls = texts, []

    async def generate(self, prompt, params, request_id, **kwargs):
        self.calls.append({"prompt": prompt, "params": params, "request_id": request_id, **kwargs})
        outputs = [SimpleNamespace(text=t, token_ids=list(range(len(t.split()))), finish_reason="stop")
                   for t in self.texts]
        yield SimpleNamespace(outputs=outputs, prompt_token_ids=[1, 2, 3])


def replica(tokenizer, texts, reasoning_parser=None) -> GeneratorReplica:
    rep = object.__new__(GeneratorReplica)  # everything but the engine: that is the fake
    rep.replica_id, rep.engine, rep.tokenizer = "replica-0", FakeEngine(texts), tokenizer
    rep.reasoning = ReasoningSplitter(reasoning_parser, tokenizer) if reasoning_parser else None
    return rep


def run(rep, config: GeneratorConfig, task: Task):
    gen = ReasoningGenerator(config)
    result = asyncio.run(rep.generate(gen.request(task, "r-1", {"n": 2, "max_tokens": 16})))
    return result, [gen.sample(task, result, c, f"s{i}", i) for i, c in enumerate(result.completions)]


def test_chat_template_kwargs_reach_the_template_and_the_engine(tokenizer):
    rep = replica(tokenizer, ["x</think>y", "z"], reasoning_parser="deepseek_r1")
    config = GeneratorConfig(chat_template_kwargs={"enable_thinking": True})
    result, _ = run(rep, config, Task(id="t", prompt="What is 2+3?"))
    [call] = rep.engine.calls
    assert call["prompt"].endswith("<|im_start|>assistant\n<think>\n") and result.prompt == call["prompt"]
    assert call["reasoning_parser_kwargs"] == {"chat_template_kwargs": {"enable_thinking": True}}
    off = replica(tokenizer, ["z"], reasoning_parser="deepseek_r1")
    run(off, GeneratorConfig(chat_template_kwargs={"enable_thinking": False}), Task(id="t", prompt="q"))
    assert off.engine.calls[0]["prompt"].endswith("<|im_start|>assistant\n<think></think>")


def test_without_a_reasoning_parser_nothing_extra_reaches_the_engine(tokenizer):
    rep = replica(tokenizer, ["<think>a</think>b"])
    _, [sample] = run(rep, GeneratorConfig(), Task(id="t", prompt="q"))
    assert set(rep.engine.calls[0]) == {"prompt", "params", "request_id"}
    assert (sample.reasoning, sample.answer) == ("a", "b")  # the generator's own think-tag split


def test_the_engine_split_goes_to_reasoning_and_the_tag_split_does_not_run_twice(tokenizer):
    # deepseek_r1 splits at the first </think>; a second split would cut "b</think>c" again.
    rep = replica(tokenizer, ["<think>a</think>b</think>c \\boxed{7}", "only thoughts, never closed"],
                  reasoning_parser="deepseek_r1")
    result, [split, unclosed] = run(rep, GeneratorConfig(), Task(id="t", prompt="q", reference="7"))
    first = result.completions[0]
    assert (first.reasoning, first.content, first.reasoning_parser) == ("a", "b</think>c \\boxed{7}", "deepseek_r1")
    assert split.completion == "<think>a</think>b</think>c \\boxed{7}"
    assert (split.reasoning, split.answer, split.final_answer, split.answer_source) == (
        "a", "b</think>c \\boxed{7}", "7", "boxed")
    # R1's parser reads text without </think> as all reasoning: no answer, so nothing to verify.
    assert (unclosed.reasoning, unclosed.answer, unclosed.final_answer) == ("only thoughts, never closed", "", None)


def test_qwen3_parser_follows_enable_thinking(tokenizer):
    splitter = ReasoningSplitter("qwen3", tokenizer)
    assert splitter.split("<think>r</think>c", {"enable_thinking": True}) == ("r", "c")
    assert splitter.split("just 5", {"enable_thinking": False}) == (None, "just 5")


def test_an_unknown_or_unusable_reasoning_parser_fails_at_start(tokenizer):
    with pytest.raises(ValueError, match=r"engine.reasoning_parser: Reasoning parser 'nope' not found"):
        ReasoningSplitter("nope", tokenizer)
    plain = AutoTokenizer.from_pretrained(resolve_model(TINY_MODEL))  # no <think> token
    with pytest.raises(RuntimeError, match="think start/end tokens"):
        ReasoningSplitter("deepseek_r1", plain)


def test_the_plain_replica_refuses_rollouts(tokenizer):
    rep = replica(tokenizer, ["x"])
    with pytest.raises(TypeError, match="ToolUseReplica"):
        asyncio.run(rep.generate(GenerationRequest("r", {"n": 1}, prompt="p", rollout=object())))


def test_the_engine_wrapper_does_not_import_tool_use():
    code = "import sys, foundry.generators.engine; print('foundry.generators.tool_use' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
