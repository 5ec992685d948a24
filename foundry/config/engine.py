"""vLLM engine and sampling arguments, under vLLM's own names, passed through unchanged."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from foundry.config.base import TINY_MODEL, Strict


class EngineConfig(Strict):
    """vLLM engine arguments (vLLM's names), one engine per replica."""

    model: str = TINY_MODEL
    """Hub id or local checkpoint path; `foundry/tiny-random` builds a tiny random model locally."""
    tokenizer: str | None = None
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_model_len: int | None = Field(default=None, ge=16)
    dtype: str = "auto"
    seed: int = 0
    """Engine-level seed (per-request seeds are unreliable on the CPU build)."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    """On the CPU build this is the fraction of host memory reserved."""
    enforce_eager: bool = False
    max_num_seqs: int | None = Field(default=None, ge=1)
    enable_prefix_caching: bool | None = None
    trust_remote_code: bool = False
    reasoning_parser: str | None = None
    """vLLM's reasoning parser (e.g. `deepseek_r1`, `qwen3`): the replica separates each completion's reasoning
    with it (into `reasoning`, the rest into `answer`), instead of splitting on `generator.think_tags`."""
    disable_log_stats: bool = True
    """vLLM's per-step stats collection and periodic stats log: nothing reads them inside a replica actor, and they
    cost the engine client CPU at every step (the report and Foundry's metrics cover throughput)."""
    extra_args: dict[str, Any] = Field(default_factory=dict)
    """Any other `AsyncEngineArgs` field, passed through as is."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment for the replica process (e.g. `VLLM_CPU_KVCACHE_SPACE` on CPU nodes)."""

    def engine_args(self) -> dict[str, Any]:
        """The keyword arguments for vLLM's `AsyncEngineArgs` (model path resolved by the caller)."""
        args = self.model_dump(exclude={"extra_args", "env"}, exclude_none=True)
        return {**args, **self.extra_args}


class SamplingConfig(Strict):
    """vLLM `SamplingParams` fields (vLLM's names)."""

    n: int = Field(default=1, ge=1)
    """Samples per request; all `n` are kept."""
    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int | None = None
    min_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int = Field(default=512, ge=1)
    min_tokens: int | None = Field(default=None, ge=0)
    stop: list[str] | None = None
    ignore_eos: bool = False
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = Field(default=None, gt=0)

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)
