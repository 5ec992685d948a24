"""One vLLM engine (in-process `AsyncLLM`) serving many concurrent requests; one per tensor-parallel group.

A plain class: `cluster/` turns it into a Ray actor. Requests arrive concurrently (async actor) so vLLM's continuous
batching sees them all; every one of the `n` completions of a request is returned. Tool use lives in a subclass
(`tool_use.ToolUseReplica`), so this wrapper knows nothing of tools.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace
from typing import Any

from foundry.types import Completion, GenerationRequest, GenerationResult  # noqa: F401 (re-exported)


class ReasoningSplitter:
    """vLLM's reasoning parser (`engine.reasoning_parser`), applied to finished completions as vLLM's chat server
    does for a non-streamed response: a fresh parser per completion (they keep state), built with the request's
    chat-template arguments (Qwen3's parser reads `enable_thinking` from them)."""

    def __init__(self, name: str, tokenizer: Any, model_config: Any = None):
        from vllm.reasoning import ReasoningParserManager

        try:
            self.parser_class = ReasoningParserManager.get_reasoning_parser(name)
        except KeyError as exc:
            raise ValueError(f"engine.reasoning_parser: {exc.args[0]}") from None
        self.name, self.tokenizer, self.model_config = name, tokenizer, model_config
        self.split("", None)  # a parser that cannot work with this tokenizer fails the replica at start

    def split(self, text: str, chat_template_kwargs: dict[str, Any] | None) -> tuple[str | None, str | None]:
        kwargs = dict(chat_template_kwargs or {})
        parser = self.parser_class(self.tokenizer, chat_template_kwargs=kwargs, model_config=self.model_config)
        # The parsers read only these fields of the chat request they were written for.
        request = SimpleNamespace(chat_template_kwargs=kwargs, include_reasoning=True, tools=None, tool_choice="none")
        return parser.extract_reasoning(text, request)


class GeneratorReplica:
    """An `AsyncLLM` engine plus its tokenizer (for chat templates) and, when configured, a reasoning parser."""

    def __init__(self, model: str, engine_args: dict[str, Any], replica_id: str = "replica-0"):
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        from foundry.generators.tiny_model import resolve_model

        model = resolve_model(model)  # built on the replica's own node, so no node needs a shared filesystem
        self.replica_id = replica_id
        args = {k: v for k, v in engine_args.items() if k != "model"}
        self.engine = AsyncLLM.from_engine_args(AsyncEngineArgs(model=model, **args))
        self.tokenizer = AutoTokenizer.from_pretrained(engine_args.get("tokenizer") or model,
                                                       trust_remote_code=engine_args.get("trust_remote_code", False))
        name = engine_args.get("reasoning_parser")
        self.reasoning = ReasoningSplitter(name, self.tokenizer, self.engine.model_config) if name else None
        self.started = time.time()

    def node(self) -> dict[str, Any]:
        """Where this replica runs (for placement checks and the cost report)."""
        return {"replica": self.replica_id, "pid": os.getpid(), "hostname": os.uname().nodename}

    def render(self, request: GenerationRequest) -> str:
        if request.messages is None:
            return request.prompt or ""
        return self.tokenizer.apply_chat_template(
            request.messages, tools=request.tools, tokenize=False, add_generation_prompt=True,
            **(request.chat_template_kwargs or {}),
        )

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        if request.rollout is not None:
            raise TypeError("a tool-use rollout needs a ToolUseReplica (foundry.generators.tool_use)")
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        start = time.perf_counter()
        prompt = self.render(request)
        structured = StructuredOutputsParams(**request.structured_outputs) if request.structured_outputs else None
        # FINAL_ONLY: with streaming output kinds the last RequestOutput can hold only one of the n completions.
        params = SamplingParams(
            **request.sampling, structured_outputs=structured, output_kind=RequestOutputKind.FINAL_ONLY
        )
        extra: dict[str, Any] = {}
        if self.reasoning is not None:  # the engine core's structured outputs start after the reasoning, as served
            extra["reasoning_parser_kwargs"] = {"chat_template_kwargs": dict(request.chat_template_kwargs or {})}
        final = None
        async for output in self.engine.generate(prompt, params, request.request_id, **extra):
            final = output
        if final is None:
            raise RuntimeError(f"engine returned no output for request {request.request_id}")
        completions = [self._completion(c.text, len(c.token_ids), c.finish_reason, request) for c in final.outputs]
        return GenerationResult(
            request_id=request.request_id,
            prompt=prompt,
            prompt_tokens=len(final.prompt_token_ids or []),
            completions=completions,
            seconds=time.perf_counter() - start,
            replica=self.replica_id,
        )

    def _completion(self, text: str, tokens: int, finish: str | None, request: GenerationRequest) -> Completion:
        if self.reasoning is None:
            return Completion(text=text, completion_tokens=tokens, finish_reason=finish)
        reasoning, content = self.reasoning.split(text, request.chat_template_kwargs)
        return Completion(text=text, completion_tokens=tokens, finish_reason=finish, reasoning=reasoning,
                          content=content, reasoning_parser=self.reasoning.name)

    async def health(self) -> bool:
        await self.engine.check_health()
        return True

    def shutdown(self) -> None:
        self.engine.shutdown()
