"""Tool-use traces: each sample is a multi-turn agent rollout whose tool calls really run.

The rollout loop runs inside the replica actor (`ToolUseReplica`, which owns the toolboxes), not on the driver: every turn is then
a direct call on the in-process `AsyncLLM` instead of a Ray round-trip, the `n` rollouts of a task share one replica
(its prefix cache holds their common prompt), and all rollouts in flight on a replica are batched together by vLLM
while their tools run on the toolbox's threads.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from foundry.config import StopReason, ToolUseGeneratorConfig
from foundry.generators.engine import GeneratorReplica
from foundry.generators.samples import build_sample, task_messages
from foundry.generators.tools import build_toolbox
from foundry.generators.tools.parsers import ParsedTurn, Parser, get_parser
from foundry.generators.tools.toolbox import Toolbox, ToolResult
from foundry.types import Completion, GenerationRequest, GenerationResult, Sample, Task


class RolloutCompletion(Completion):
    """A finished rollout: `text` is the last assistant turn, `completion_tokens` every generated token."""

    messages: list[dict[str, Any]]
    """The whole conversation in OpenAI format (tool-call arguments as JSON text)."""
    trace: dict[str, Any]
    prompt: str = ""
    """The first turn's rendered prompt."""
    prompt_tokens: int = 0
    seconds: float = 0.0


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as Hugging Face chat templates expect them: tool-call arguments as objects, not JSON text."""
    out = []
    for message in messages:
        if message.get("tool_calls"):
            calls = [{**call, "function": {**call["function"], "arguments": _arguments(call["function"])}}
                     for call in message["tool_calls"]]
            message = {**message, "tool_calls": calls}
        out.append(message)
    return out


def _arguments(function: dict[str, Any]) -> Any:
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except json.JSONDecodeError:
            return arguments  # a malformed call stays as the model wrote it
    return arguments


class _EngineFailed(Exception):
    """Wraps an engine error so it escapes the rollout's own error handling: a broken engine must fail the run."""


@dataclass
class _Rollout:
    """The mutable state of one rollout while it runs."""

    messages: list[dict[str, Any]]
    state: dict[str, Any] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    prompt: str = ""
    last_text: str = ""
    last_finish: str | None = None
    last: Completion | None = None
    stop: StopReason = "error"
    error: str | None = None


class AgentLoop:
    """Runs rollouts on one replica: render, generate, parse calls, run tools, repeat until a stop reason."""

    def __init__(self, replica: Any, config: ToolUseGeneratorConfig, toolbox: Toolbox, parser: Parser):
        self.replica, self.config, self.toolbox, self.parser = replica, config, toolbox, parser
        model_len = getattr(getattr(getattr(replica, "engine", None), "model_config", None), "max_model_len", None)
        limits = [x for x in (config.max_total_tokens, model_len) if isinstance(x, int)]
        self.token_limit = min(limits) if limits else None

    async def run(self, request_id: str, messages: list[dict[str, Any]], sampling: dict[str, Any]) -> RolloutCompletion:
        rollout, start = _Rollout(list(messages)), time.perf_counter()
        try:
            async with asyncio.timeout(self.config.max_wall_seconds):
                rollout.stop = await self._turns(rollout, request_id, sampling)
        except TimeoutError:
            rollout.stop = "timeout"
        except _EngineFailed as failed:
            raise failed.__cause__ from None
        except Exception as exc:  # a template or parser bug ends this rollout, recorded, not the campaign
            rollout.stop, rollout.error = "error", f"{type(exc).__name__}: {exc}"[:500]
        return self._completion(rollout, time.perf_counter() - start)

    async def _turns(self, rollout: _Rollout, request_id: str, sampling: dict[str, Any]) -> StopReason:
        for turn in range(self.config.max_turns):
            chat = GenerationRequest(request_id, sampling, messages=template_messages(rollout.messages),
                                     tools=self.toolbox.schemas, chat_template_kwargs=self.config.chat_template_kwargs)
            prompt = self.replica.render(chat)
            rollout.prompt = rollout.prompt or prompt
            room = self._room(prompt, sampling)
            if room <= 0:
                return "max_tokens"
            parsed = await self._generate(rollout, f"{request_id}-t{turn}", prompt, {**sampling, "max_tokens": room},
                                          turn)
            ids = [f"call_{turn}_{i}" for i in range(len(parsed.calls))]
            rollout.messages.append(_assistant_message(parsed, ids))
            if not parsed.calls:
                return "max_tokens" if rollout.last_finish == "length" else "final_answer"
            if len(rollout.calls) + len(parsed.calls) > self.config.max_tool_calls:
                return "max_tool_calls"
            # In order, not gathered: a stateful tool must see its cells in sequence.
            for call_id, call in zip(ids, parsed.calls, strict=True):
                result = await self.toolbox.execute(call, rollout.state)
                rollout.calls.append({"id": call_id, "turn": turn, **result.record()})
                rollout.messages.append(_tool_message(call_id, result))
        return "max_turns"

    def _room(self, prompt: str, sampling: dict[str, Any]) -> int:
        """Tokens this turn may generate: the per-turn cap, or less when the conversation budget is nearly spent."""
        cap = int(sampling.get("max_tokens", 512))
        if self.token_limit is None:
            return cap
        used = len(self.replica.tokenizer.encode(prompt, add_special_tokens=False))
        return min(cap, self.token_limit - used)

    async def _generate(self, rollout: _Rollout, request_id: str, prompt: str, sampling: dict[str, Any],
                        turn: int) -> ParsedTurn:
        structured = self.config.turn_structured_outputs
        turn_structured = structured[min(turn, len(structured) - 1)] if structured else None
        request = GenerationRequest(request_id, {**sampling, "n": 1}, prompt=prompt, structured_outputs=turn_structured,
                                    chat_template_kwargs=self.config.chat_template_kwargs)
        try:
            result: GenerationResult = await self.replica.generate(request)
        except Exception as exc:
            raise _EngineFailed() from exc
        completion = result.completions[0]
        rollout.last_text, rollout.last_finish, rollout.last = completion.text, completion.finish_reason, completion
        rollout.turns.append({"prompt_tokens": result.prompt_tokens, "completion_tokens": completion.completion_tokens,
                              "finish_reason": completion.finish_reason, "seconds": round(result.seconds, 6)})
        # With the engine's reasoning parser on, calls are read from the content, not from inside the reasoning.
        return self.parser((completion.content or "") if completion.reasoning_parser else completion.text)

    def _completion(self, rollout: _Rollout, seconds: float) -> RolloutCompletion:
        turns, calls = rollout.turns, rollout.calls
        trace = {
            "stop_reason": rollout.stop,
            "error": rollout.error,
            "turns": len(turns),
            "tool_calls": len(calls),
            "tool_errors": sum(c["error"] is not None for c in calls),
            "invalid_tool_calls": sum(not c["valid"] for c in calls),
            "prompt_tokens": sum(t["prompt_tokens"] for t in turns),
            "completion_tokens": sum(t["completion_tokens"] for t in turns),
            "context_tokens": turns[-1]["prompt_tokens"] + turns[-1]["completion_tokens"] if turns else 0,
            "seconds": round(seconds, 6),
            "tool_seconds": round(sum(c["seconds"] for c in calls), 6),
            "turn_stats": turns,
            "calls": calls,
            "tools": self.toolbox.schemas,
        }
        last = rollout.last
        split = {"reasoning": last.reasoning, "content": last.content, "reasoning_parser": last.reasoning_parser} if (
            last is not None and last.reasoning_parser) else {}
        return RolloutCompletion(
            text=rollout.last_text, completion_tokens=trace["completion_tokens"], finish_reason=rollout.last_finish,
            **split,
            messages=rollout.messages, trace=trace, prompt=rollout.prompt,
            prompt_tokens=turns[0]["prompt_tokens"] if turns else 0, seconds=seconds,
        )


def _assistant_message(parsed: ParsedTurn, ids: list[str]) -> dict[str, Any]:
    """OpenAI format; an unreadable call stays in `content` as written (its error still gets a tool message)."""
    message: dict[str, Any] = {"role": "assistant", "content": parsed.content}
    calls = [
        {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": (
            json.dumps(call.arguments, default=str) if call.arguments is not None else call.arguments_text or "{}")}}
        for call_id, call in zip(ids, parsed.calls, strict=True) if call.name
    ]
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_message(call_id: str, result: ToolResult) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "name": result.name, "content": result.content}


async def run_rollouts(replica: Any, request: GenerationRequest) -> GenerationResult:
    """The `n` rollouts of one request, concurrently on this replica; `replica.toolboxes` caches toolboxes."""
    config: ToolUseGeneratorConfig = request.rollout
    loop = AgentLoop(replica, config, await _toolbox(replica, config), get_parser(config.parser))
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:  # an engine failure cancels the sibling rollouts
        jobs = [group.create_task(loop.run(f"{request.request_id}-r{i}", request.messages or [], request.sampling))
                for i in range(int(request.sampling.get("n", 1)))]
    completions = [job.result() for job in jobs]
    return GenerationResult(request.request_id, completions[0].prompt, completions[0].prompt_tokens, completions,
                            time.perf_counter() - start, replica.replica_id)


async def _toolbox(replica: Any, config: ToolUseGeneratorConfig) -> Toolbox:
    """One toolbox per tool config per replica, built once off the event loop (sandboxes take a while to start)."""
    tools = [tool.model_dump(mode="json") for tool in config.tools]
    key = json.dumps({"tools": tools, "workers": config.tool_workers}, sort_keys=True)
    if key not in replica.toolboxes:
        build = asyncio.to_thread(build_toolbox, config.tools, config.tool_workers)
        replica.toolboxes[key] = asyncio.ensure_future(build)
    future = replica.toolboxes[key]
    try:
        return await asyncio.shield(future)
    except Exception:
        if replica.toolboxes.get(key) is future:
            del replica.toolboxes[key]  # a setup error (no bubblewrap, bad import) fails this request; retry next time
        raise


class ToolUseReplica(GeneratorReplica):
    """A replica that also runs tool-use rollouts (requests with `rollout` set) and owns their toolboxes.

    The plain engine wrapper knows nothing of tools; this subclass adds them, so `cluster/` runs it as the replica
    actor and a rollout's turns reach the in-process engine directly.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.toolboxes: dict[str, Any] = {}
        """Toolboxes (sandboxes, indexes) by tool config, built on a first rollout."""

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        if request.rollout is not None:  # one entry point, so the pool's backpressure and restarts cover rollouts
            return await run_rollouts(self, request)
        return await super().generate(request)

    def shutdown(self) -> None:
        close_toolboxes(self.toolboxes)
        super().shutdown()


def close_toolboxes(toolboxes: dict[str, Any]) -> None:
    for future in toolboxes.values():
        if future.done() and not future.cancelled() and future.exception() is None:
            future.result().close()
    toolboxes.clear()


class ToolUseGenerator:
    """The driver's side: a task becomes a rollout request, a finished rollout becomes a Sample."""

    def __init__(self, config: ToolUseGeneratorConfig):
        self.config = config

    def messages(self, task: Task) -> list[dict[str, Any]]:
        return task_messages(task, self.config.prompt_template, self.config.system_prompt)

    def request(self, task: Task, request_id: str, sampling: dict[str, Any]) -> GenerationRequest:
        return GenerationRequest(request_id, sampling, messages=self.messages(task), rollout=self.config)

    def sample(self, task: Task, result: GenerationResult, completion: RolloutCompletion, sid: str,
               index: int) -> Sample:
        return build_sample(
            completion, self.config, id=sid, task_id=task.id, sample_index=index, prompt=completion.prompt,
            messages=completion.messages, reference=task.reference, tests=task.tests,
            prompt_tokens=completion.prompt_tokens, generation_seconds=completion.seconds, trace=completion.trace,
        )
