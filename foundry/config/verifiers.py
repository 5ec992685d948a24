"""The verifiers that accept or reject a sample, their judges, and how verdicts combine."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from foundry.config.base import Regex, Strict
from foundry.config.engine import EngineConfig
from foundry.config.generators import StopReason


class MathVerifierConfig(Strict):
    """Answer equivalence with Math-Verify against the task's reference."""

    kind: Literal["math"] = "math"
    name: str = "math"
    reference_pattern: Regex | None = r"####\s*(.+)$"
    """Regex applied to the reference before parsing (GSM8K's `#### 42`); falls back to the whole reference."""


class RegexVerifierConfig(Strict):
    """Accept only completions matching (or not matching) a regex."""

    kind: Literal["regex"] = "regex"
    name: str = "regex"
    pattern: Regex
    field: Literal["completion", "answer", "reasoning", "final_answer"] = "completion"
    must_match: bool = True


class LengthVerifierConfig(Strict):
    """Bounds on completion length in tokens."""

    kind: Literal["length"] = "length"
    name: str = "length"
    min_tokens: int = Field(default=0, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    reject_truncated: bool = True
    """Reject completions the engine cut off at `max_tokens` (finish_reason == "length")."""


class SectionsVerifierConfig(Strict):
    """Required parts of a completion: a reasoning block and/or a final answer."""

    kind: Literal["sections"] = "sections"
    name: str = "sections"
    require_reasoning: bool = True
    require_answer: bool = True


class CodeTestVerifierConfig(Strict):
    """Run the completion's code against the task's tests in the sandbox (one execution per test)."""

    kind: Literal["code"] = "code"
    name: str = "code"
    sandbox: Literal["bwrap", "unsafe_subprocess"] = "bwrap"
    """`bwrap`: bubblewrap isolation (no network, no host files, unprivileged uid); `unsafe_subprocess`: a plain
    subprocess with rlimits only, for trusted code or machines without bubblewrap."""
    cpu_seconds: int = Field(default=5, ge=1)
    """CPU time per test (RLIMIT_CPU)."""
    memory_mb: int = Field(default=512, ge=64)
    """Address space per test (RLIMIT_AS); allocations beyond it raise MemoryError."""
    max_processes: int = Field(default=32, ge=1)
    """Processes the sandbox user may have (RLIMIT_NPROC): bounds fork bombs."""
    max_file_mb: int = Field(default=16, ge=0)
    """Largest file a test may write (RLIMIT_FSIZE)."""
    max_open_files: int = Field(default=64, ge=8)
    wall_seconds: float = Field(default=5.0, gt=0)
    """Wall-clock timeout per test; the tests after a timeout are not run and count as failed."""
    max_output_bytes: int = Field(default=1 << 20, ge=1024)
    """stdout + stderr kept per test; a program that writes more is killed."""
    block: Literal["last", "first", "all"] = "last"
    """Which fenced ```python block is the program: the last, the first, or all of them concatenated."""
    require_fence: bool = True
    """Reject completions without a fenced code block ("no code block"); False: the whole text is the program."""
    max_code_chars: int = Field(default=100_000, ge=1)
    """Longer programs are rejected without running."""
    float_tolerance: float | None = Field(default=None, ge=0)
    """Numbers in outputs may differ by this much (relative or absolute); None: exact text."""
    pass_threshold: float = Field(default=1.0, ge=0, le=1)
    """Fraction of tests that must pass (1.0: all)."""
    workers: int = Field(default=1, ge=1)
    """Sandbox processes per verifier; above 1, a sample's tests run in parallel."""


class RubricCriterion(Strict):
    """One thing the judge scores."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str
    weight: float = Field(default=1.0, gt=0)


class JudgeConfig(Strict):
    """Which LLM judges: the campaign's own replicas, a replica pool of its own, or an OpenAI-compatible URL."""

    kind: Literal["generator", "replicas", "openai"] = "generator"
    """`generator`: the campaign's generator replicas; `replicas`: a pool with `engine`; `openai`: `base_url`."""
    engine: EngineConfig | None = None
    """Engine of a dedicated judge pool (for `replicas`)."""
    replicas: int = Field(default=1, ge=1)
    base_url: str | None = None
    """OpenAI-compatible endpoint, e.g. http://judge:8000/v1 (for `openai`)."""
    model: str | None = None
    """Model name sent to the endpoint (for `openai`)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (never the key itself)."""
    timeout_seconds: float = Field(default=120, gt=0)

    @model_validator(mode="after")
    def _check(self) -> JudgeConfig:
        if self.kind == "openai" and not (self.base_url and self.model):
            raise ValueError("an openai judge needs base_url and model")
        if self.kind == "replicas" and self.engine is None:
            raise ValueError("a replicas judge needs engine")
        return self


class RubricVerifierConfig(Strict):
    """An LLM judge scores each sample against weighted criteria; scores come back as guided JSON."""

    kind: Literal["rubric"] = "rubric"
    name: str = "rubric"
    criteria: list[RubricCriterion] = Field(min_length=1)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    scale: int = Field(default=10, ge=1, le=100)
    """Each criterion is scored 0..scale."""
    threshold: float = Field(default=0.7, ge=0, le=1)
    """Accept when the weighted mean score / scale reaches this."""
    instructions: str = (
        "You are a strict grader. Score the RESPONSE to the TASK on each criterion from 0 to {scale}. "
        "Reply with JSON only."
    )
    max_tokens: int = Field(default=256, ge=8)
    temperature: float = Field(default=0.0, ge=0)


class TraceVerifierConfig(Strict):
    """Trace-level checks of a tool-use rollout: how it ended, and whether its tool calls were sound."""

    kind: Literal["trace"] = "trace"
    name: str = "trace"
    stop_reasons: list[StopReason] = Field(default_factory=lambda: ["final_answer"])
    """Accept only rollouts that ended for one of these reasons."""
    require_valid_tool_calls: bool = True
    """Reject a trace with any malformed, unknown or schema-invalid tool call."""
    allow_unanswered_tool_errors: bool = False
    """False: every tool call has a result, and every failed one is followed by another assistant turn."""
    max_tool_errors: int | None = Field(default=None, ge=0)
    min_tool_calls: int = Field(default=0, ge=0)
    """Fewest tool calls a trace must hold (e.g. 1: keep only traces that used a tool)."""


VerifierConfig = Annotated[
    MathVerifierConfig | RegexVerifierConfig | LengthVerifierConfig | SectionsVerifierConfig
    | CodeTestVerifierConfig | RubricVerifierConfig | TraceVerifierConfig,
    Field(discriminator="kind"),
]

# Discriminated unions put the `kind` tag in error locations; users never wrote it as a key.
_VERIFIER_KINDS = {member.model_fields["kind"].default for member in get_args(get_args(VerifierConfig)[0])}


class AcceptanceConfig(Strict):
    """How verdicts combine into accept / reject."""

    mode: Literal["all", "any", "weighted"] = "all"
    """`all`: every verifier passes (short-circuits on the first rejection); `any`: one passes; `weighted`:
    the weighted mean score reaches `threshold`."""
    weights: dict[str, float] = Field(default_factory=dict)
    """Per-verifier weights by name for `weighted` (default 1)."""
    threshold: float = Field(default=1.0, ge=0, le=1)
    short_circuit: bool = True
    """Stop at the first rejection in `all` mode (cheapest verifiers first)."""
