"""Plain values that flow between stages: Task in, Sample out, Verdicts attached.

These are data, not behaviour (like vLLM's SamplingParams): every stage reads and returns them, and the storage
layer turns them into parquet rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Task(BaseModel):
    """One problem from the source: a prompt (or chat messages) plus what a verifier checks against."""

    model_config = ConfigDict(frozen=True)

    id: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    reference: str | None = None
    tests: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Verdict(BaseModel):
    """What one verifier said about one sample; `reason` is never empty on a rejection."""

    model_config = ConfigDict(frozen=True)

    verifier: str
    passed: bool
    score: float
    reason: str = ""
    seconds: float = 0.0


class Completion(BaseModel):
    """One of the `n` outputs the engine returned for a request."""

    model_config = ConfigDict(frozen=True)

    text: str
    completion_tokens: int
    finish_reason: str | None = None
    reasoning: str | None = None
    """The reasoning vLLM's reasoning parser separated from `text` (set only when `reasoning_parser` is)."""
    content: str | None = None
    """The rest of `text` after the reasoning, as that parser split it (None: nothing after the reasoning)."""
    reasoning_parser: str | None = None
    """The vLLM reasoning parser that split `text`; None means it was not split in the engine."""


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate: chat messages (rendered with the tokenizer's template) or a raw prompt."""

    request_id: str
    sampling: dict[str, Any]
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    structured_outputs: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    """Extra arguments for the chat template (e.g. `{enable_thinking: true}`), also given to the reasoning parser."""
    rollout: Any = None
    """A `ToolUseGeneratorConfig`: each of the `n` samples is then a multi-turn tool-use rollout (`tool_use.py`)."""


@dataclass
class GenerationResult:
    request_id: str
    prompt: str
    prompt_tokens: int
    completions: list[Completion]
    seconds: float
    replica: str
    extra: dict[str, Any] = field(default_factory=dict)


class Sample(BaseModel):
    """A generated sample with its verdicts; `id` is deterministic so resume and dedup can check it."""

    id: str
    task_id: str
    sample_index: int
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    completion: str = ""
    reasoning: str | None = None
    """Text inside the think block, when the completion has one."""
    answer: str | None = None
    """The completion after the reasoning block (the whole completion when there is none)."""
    final_answer: str | None = None
    """The extracted final answer (e.g. the last \\boxed{...}), what math verifiers compare."""
    answer_source: str | None = None
    """Which extractor found `final_answer`: `boxed`, `gsm8k_hash`, `answer_is`, `final_answer`, `pattern:<i>`
    (the i-th configured regex) or `math_verify` (Math-Verify's own last-expression fallback); None when none did."""
    reference: str | None = None
    tests: Any = None
    verdicts: list[Verdict] = Field(default_factory=list)
    accepted: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    generation_seconds: float = 0.0
    trace: dict[str, Any] | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)
    fingerprint: bytes | None = None
    """An accepted sample's dedup fingerprint (exact key and MinHash signature, `Deduplicator.to_bytes`), kept in
    its shard so a resumed run rebuilds the dedup index without reading every completion again."""


def sample_id(campaign: str, task_id: str, sample_index: int) -> str:
    """Stable id of the `sample_index`-th sample of a task in a campaign (same inputs, same id, every run)."""
    digest = hashlib.sha256(f"{campaign}\x1f{task_id}\x1f{sample_index}".encode()).hexdigest()
    return digest[:24]
