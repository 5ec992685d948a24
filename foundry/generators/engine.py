"""One vLLM engine (in-process `AsyncLLM`) serving many concurrent requests; one per tensor-parallel group.

A plain class: `cluster/` turns it into a Ray actor. Requests arrive concurrently (async actor) so vLLM's continuous
batching sees them all; every one of the `n` completions of a request is returned.
"""

from __future__ import annotations

import os
import time
from typing import Any

from foundry.types import Completion, GenerationRequest, GenerationResult  # noqa: F401 (re-exported)


class GeneratorReplica:
    """An `AsyncLLM` engine plus its tokenizer (for chat templates)."""

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
        self.started = time.time()
        self.toolboxes: dict[str, Any] = {}
        """Tool-use toolboxes (sandboxes, indexes) by tool config, built on a first rollout (`tool_use.py`)."""

    def node(self) -> dict[str, Any]:
        """Where this replica runs (for placement checks and the cost report)."""
        return {"replica": self.replica_id, "pid": os.getpid(), "hostname": os.uname().nodename}

    def render(self, request: GenerationRequest) -> str:
        if request.messages is None:
            return request.prompt or ""
        return self.tokenizer.apply_chat_template(
            request.messages, tools=request.tools, tokenize=False, add_generation_prompt=True
        )

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        if request.rollout is not None:  # one entry point, so the pool's backpressure and restarts cover rollouts too
            return await self.rollout(request)
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        start = time.perf_counter()
        prompt = self.render(request)
        structured = StructuredOutputsParams(**request.structured_outputs) if request.structured_outputs else None
        # FINAL_ONLY: with streaming output kinds the last RequestOutput can hold only one of the n completions.
        params = SamplingParams(
            **request.sampling, structured_outputs=structured, output_kind=RequestOutputKind.FINAL_ONLY
        )
        final = None
        async for output in self.engine.generate(prompt, params, request.request_id):
            final = output
        if final is None:
            raise RuntimeError(f"engine returned no output for request {request.request_id}")
        completions = [
            Completion(text=c.text, completion_tokens=len(c.token_ids), finish_reason=c.finish_reason)
            for c in final.outputs
        ]
        return GenerationResult(
            request_id=request.request_id,
            prompt=prompt,
            prompt_tokens=len(final.prompt_token_ids or []),
            completions=completions,
            seconds=time.perf_counter() - start,
            replica=self.replica_id,
        )

    async def health(self) -> bool:
        await self.engine.check_health()
        return True

    async def rollout(self, request: GenerationRequest) -> GenerationResult:
        """`n` tool-use rollouts run here, in the actor: each turn reaches the engine without a Ray round-trip."""
        from foundry.generators.tool_use import run_rollouts

        return await run_rollouts(self, request)

    def shutdown(self) -> None:
        if self.toolboxes:
            from foundry.generators.tool_use import close_toolboxes

            close_toolboxes(self.toolboxes)
        self.engine.shutdown()
