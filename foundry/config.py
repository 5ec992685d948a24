"""The shape of a campaign: one pydantic tree, loaded from YAML, the only place config shape lives.

Engine and sampling fields keep vLLM's own names (`tensor_parallel_size`, `max_model_len`, `temperature`, ...) and
are passed through to `AsyncEngineArgs` / `SamplingParams` unchanged. Unknown keys are errors so typos never pass.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

TINY_MODEL = "foundry/tiny-random"
"""Reserved model name: a tiny random-weight Qwen2 model built locally on demand (no hub needed)."""


def _compiles(pattern: str) -> str:
    if pattern != "boxed":  # the answer extractor's keyword, not a regex
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]
"""A regular expression, compiled at validation so `foundry validate` catches it, not the run."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class FieldMap(Strict):
    """Which source column holds each task field."""

    id: str | None = "id"
    """Column with a unique task id; when absent from a row, the row's position is used."""
    prompt: str | None = "prompt"
    """Column with the prompt text (used when `messages` is absent)."""
    messages: str | None = "messages"
    """Column with chat messages ([{role, content}, ...])."""
    reference: str | None = "answer"
    """Column with the reference answer checked by verifiers."""
    tests: str | list[str] | None = "tests"
    """Column with tests for code verifiers; a list of columns makes a dict of them (HumanEval's
    `[test, entry_point, prompt]`)."""


class SourceConfig(Strict):
    """Where tasks come from: a local JSONL / parquet file or a Hugging Face dataset."""

    format: Literal["jsonl", "parquet", "hf"] | None = None
    """File format; inferred from the path suffix when omitted. `hf` loads with `datasets.load_dataset`."""
    path: str
    """Local file, or dataset name / local dataset folder for `hf`. Relative paths resolve against the config file."""
    split: str = "train"
    """Dataset split (for `hf`)."""
    subset: str | None = None
    """Dataset configuration name (for `hf`)."""
    fields: FieldMap = Field(default_factory=FieldMap)
    """Mapping from task fields to source columns."""
    limit: int | None = Field(default=None, ge=1)
    """Use at most this many rows."""


class GeneratorConfig(Strict):
    """How a task becomes a prompt and a completion becomes reasoning and an answer."""

    kind: Literal["reasoning"] = "reasoning"
    """The generator: `reasoning` (chains of thought with a final answer)."""
    system_prompt: str | None = None
    """Optional system message prepended to the chat."""
    prompt_template: str = "{prompt}"
    """Python format string for the user message; `{prompt}` and any task metadata key are available."""
    use_chat_template: bool = True
    """Render messages with the tokenizer's chat template (False: send the templated prompt as raw text)."""
    think_tags: tuple[str, str] = ("<think>", "</think>")
    """Tags that delimit the reasoning block; the text inside goes to `reasoning`, the rest to `answer`."""
    answer_patterns: list[Regex] = Field(default_factory=lambda: ["boxed"])
    """Final-answer extractors tried in order: `boxed` means the last balanced \\boxed{...}; anything else is a
    regex whose first group (or whole match) is the answer, last match wins."""
    structured_outputs: dict[str, Any] | None = None
    """Passed to vLLM's `StructuredOutputsParams` (e.g. `{regex: ...}`, `{json: {...}}`, `{choice: [...]}`)."""


StopReason = Literal["final_answer", "max_turns", "max_tokens", "max_tool_calls", "timeout", "error"]
"""Why a tool-use rollout ended; recorded on every trace."""


class PythonToolConfig(Strict):
    """The `python` tool: model-written code runs in the verifiers' sandbox; the model sees what it printed."""

    kind: Literal["python"] = "python"
    name: str = "python"
    description: str = "Run Python code and return what it prints."
    stateful: bool = False
    """Keep variables between calls of one rollout by replaying its earlier successful cells (output hidden) before
    the new one; their side effects replay too."""
    sandbox: Literal["bwrap", "unsafe_subprocess"] = "bwrap"
    """As for the code verifier: `unsafe_subprocess` has rlimits only, no isolation."""
    timeout_seconds: float = Field(default=5.0, gt=0)
    """Wall clock per call (replayed cells included); the program is killed at it."""
    cpu_seconds: int = Field(default=5, ge=1)
    memory_mb: int = Field(default=512, ge=64)
    max_output_chars: int = Field(default=2000, ge=16)
    """Longer output is cut, with a note saying so."""


class SearchToolConfig(Strict):
    """The `search` tool: BM25 over a local JSONL corpus, one document per line."""

    kind: Literal["search"] = "search"
    name: str = "search"
    description: str = "Search the documents; returns the best matching passages."
    corpus: str
    """JSONL file (relative paths resolve against the config file); read on each replica's node."""
    text_field: str = "text"
    title_field: str | None = "title"
    top_k: int = Field(default=3, ge=1)
    timeout_seconds: float = Field(default=5.0, gt=0)
    max_output_chars: int = Field(default=2000, ge=16)


class FunctionToolConfig(Strict):
    """A user tool by import path; its JSON schema comes from the function's type hints and docstring."""

    kind: Literal["function"] = "function"
    path: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """`package.module:function`, importable on the replica nodes."""
    name: str | None = None
    """Name shown to the model (default: the function's own name)."""
    timeout_seconds: float = Field(default=5.0, gt=0)
    """A call still running then is reported as timed out (a thread cannot be killed: keep tools short)."""
    max_output_chars: int = Field(default=2000, ge=16)


ToolConfig = Annotated[PythonToolConfig | SearchToolConfig | FunctionToolConfig, Field(discriminator="kind")]


class ToolUseGeneratorConfig(Strict):
    """Multi-turn agent rollouts: the model calls tools, the tools really run, until a final answer or a budget."""

    kind: Literal["tool_use"] = "tool_use"
    system_prompt: str | None = None
    """Optional system message; the chat template adds the tool schemas to it."""
    prompt_template: str = "{prompt}"
    """Python format string for the user message; `{prompt}` and any task metadata key are available."""
    think_tags: tuple[str, str] = ("<think>", "</think>")
    """Tags of a reasoning block in the final assistant message (it goes to `reasoning`)."""
    answer_patterns: list[Regex] = Field(default_factory=lambda: ["boxed"])
    """Final-answer extractors for the final assistant message, as for the reasoning generator."""
    tools: list[ToolConfig] = Field(min_length=1)
    parser: str = Field(default="hermes", pattern=r"^(hermes|json|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
    """How tool calls are read from a turn: `hermes` (`<tool_call>{json}</tool_call>`, Qwen / Hermes), `json` (the
    turn is a JSON call object or a list of them), or `package.module:function` (text -> ParsedTurn)."""
    turn_structured_outputs: list[dict[str, Any]] | None = None
    """vLLM structured outputs per assistant turn (first entry: first turn; the last entry repeats)."""
    max_turns: int = Field(default=8, ge=1)
    """Assistant turns per rollout."""
    max_total_tokens: int | None = Field(default=None, ge=16)
    """Tokens of the whole conversation (prompt, tool results, generated); capped by the engine's max_model_len."""
    max_tool_calls: int = Field(default=16, ge=0)
    max_wall_seconds: float = Field(default=300.0, gt=0)
    """Wall clock per rollout, generation and tools included."""
    tool_workers: int = Field(default=4, ge=1)
    """Tool calls running at once per replica (threads, and sandbox processes for `python`)."""

    @model_validator(mode="after")
    def _check(self) -> ToolUseGeneratorConfig:
        names = [tool.name for tool in self.tools if tool.name]
        if len(names) != len(set(names)):
            raise ValueError(f"tool names must be unique, got {names}")
        return self


def _generator_kind(value: Any) -> str:
    # `kind` may be left out: the reasoning generator is the default.
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind or "reasoning"


AnyGeneratorConfig = Annotated[
    Annotated[GeneratorConfig, Tag("reasoning")] | Annotated[ToolUseGeneratorConfig, Tag("tool_use")],
    Discriminator(_generator_kind),
]
_UNION_TAGS = {"reasoning", "tool_use", "python", "search", "function"}


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


class OutputConfig(Strict):
    """Where accepted and rejected samples go."""

    path: str
    """Local folder (relative to the config file) or `s3://bucket/prefix`."""
    shard_max_rows: int = Field(default=10_000, ge=1)
    shard_max_bytes: int = Field(default=256 * 2**20, ge=1024)
    """Roll to a new shard once buffered rows reach about this many bytes."""
    flush_seconds: float = Field(default=60.0, gt=0)
    """Commit buffered samples at least this often, so a crash loses at most this much work."""
    keep_rejected: bool = True
    """Write rejected samples (with their verdicts) to `data/rejected-*.parquet`."""
    endpoint_url: str | None = None
    """S3-compatible endpoint (for `s3://` outputs)."""
    region: str | None = None
    profile: str | None = None
    """A named AWS profile; credentials themselves never go in the config (the standard chain finds them)."""
    retry_mode: Literal["standard", "adaptive"] = "standard"
    """botocore's retry mode for S3 calls: `standard` backs off on throttling (503 SlowDown), 5xx and connection
    errors; `adaptive` also rate-limits this client after a throttle."""
    max_attempts: int = Field(default=10, ge=1)
    """Attempts per S3 call, the first included."""
    multipart_threshold_bytes: int = Field(default=64 * 2**20, ge=5 * 2**20)
    """Shards above this go up (and are copied) as parallel multipart parts of this size."""

    def store_options(self) -> dict[str, Any]:
        """What `storage.uri.open_store` takes from this section."""
        return {"endpoint_url": self.endpoint_url, "region": self.region, "profile": self.profile,
                "retry_mode": self.retry_mode, "max_attempts": self.max_attempts,
                "multipart_threshold": self.multipart_threshold_bytes}


class ClusterConfig(Strict):
    """Where and how wide the campaign runs."""

    address: str | None = None
    """Ray cluster address; None starts a local Ray instance."""
    replicas: int = Field(default=1, ge=1)
    """Generator replicas (data parallelism), one engine each."""
    replica_num_cpus: float = Field(default=1, ge=0)
    """CPUs reserved by each replica actor."""
    replica_num_gpus: float | None = Field(default=None, ge=0)
    """GPUs per replica; default `tensor_parallel_size` when the cluster has GPUs, else 0."""
    verifier_num_cpus: float = Field(default=0.5, gt=0)
    """CPUs reserved by each verification task."""
    num_cpus: int | None = Field(default=None, ge=1)
    """CPUs for a local Ray instance (default: all)."""
    max_in_flight_per_replica: int = Field(default=64, ge=1)
    """Requests outstanding per replica (backpressure: no more are sent until some finish)."""
    verifier_workers: int = Field(default=2, ge=1)
    """Verifier actors (each keeps warm sandboxes and parsers); when all are busy, generation waits."""
    verify_timeout_seconds: float = Field(default=300, gt=0)
    """A batch still unverified after this long is rejected and its verifier worker replaced."""
    max_replica_restarts: int = Field(default=3, ge=0)
    """Replacements of dead or hung replicas allowed per run before the run fails (resumable)."""
    replica_resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources each replica reserves (e.g. `{a100: 1}` to land on nodes started with
    `--resources '{"a100": 8}'`): how a campaign picks node types."""
    replica_labels: dict[str, str] = Field(default_factory=dict)
    """Ray node labels a replica's node must carry (nodes started with `ray start --labels`), e.g.
    `{ray.io/accelerator-type: H100}`: every bundle of its placement group is placed by them."""
    verifier_labels: dict[str, str] = Field(default_factory=dict)
    """Ray node labels a verifier actor's node must carry, e.g. `{pool: cpu}` to keep verification off GPU nodes."""
    health_interval_seconds: float = Field(default=30, gt=0)
    """How often each replica's engine is probed (`check_health`)."""
    health_timeout_seconds: float = Field(default=60, gt=0)
    """A replica whose probe has not answered after this long is declared hung and replaced."""
    request_timeout_seconds: float = Field(default=900, gt=0)
    """No-progress watchdog: a replica with requests in flight that finished none of them for this long is
    declared hung and replaced; its requests are sent again (ids are deterministic, so nothing is duplicated)."""
    price_per_gpu_hour: float | None = Field(default=None, ge=0)
    """Price of one GPU-hour; when set, the cost report gives money per accepted sample."""


class CampaignConfig(Strict):
    """A synthetic-data campaign: source → generator → verifiers → output."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Campaign name; part of every sample id."""
    source: SourceConfig
    generator: AnyGeneratorConfig = Field(default_factory=GeneratorConfig)
    """`kind: reasoning` (default) or `kind: tool_use`."""
    engine: EngineConfig = Field(default_factory=EngineConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    verifiers: list[VerifierConfig] = Field(default_factory=list)
    """Verifiers in order, cheapest first."""
    acceptance: AcceptanceConfig = Field(default_factory=AcceptanceConfig)
    stop_after_accepted: int | None = Field(default=None, ge=1)
    """Stop sampling a task once this many of its samples were accepted."""
    max_samples_per_task: int | None = Field(default=None, ge=1)
    """Upper bound on samples per task (default: `sampling.n`, one request per task)."""
    output: OutputConfig
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    @model_validator(mode="after")
    def _check(self) -> CampaignConfig:
        names = [v.name for v in self.verifiers]
        if len(names) != len(set(names)):
            raise ValueError(f"verifier names must be unique, got {names}")
        if self.stop_after_accepted and self.max_samples_per_task is None:
            raise ValueError("stop_after_accepted needs max_samples_per_task (the most samples to try per task)")
        if any(v.kind == "trace" for v in self.verifiers) and self.generator.kind != "tool_use":
            raise ValueError("the trace verifier checks tool-use rollouts: it needs generator.kind tool_use")
        if self.generator.kind == "tool_use" and self.generator.max_wall_seconds >= self.cluster.request_timeout_seconds:
            # The watchdog would take a replica whose rollouts are all still within their budget for a hung one.
            raise ValueError("generator.max_wall_seconds must be below cluster.request_timeout_seconds")
        return self

    @property
    def samples_per_task(self) -> int:
        return self.max_samples_per_task or self.sampling.n

    def config_hash(self) -> str:
        """Hash of what the campaign generates (not where it runs or writes), recorded in provenance and the manifest."""
        body = self.model_dump(mode="json", exclude={"cluster", "output"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


class ConfigError(Exception):
    """A bad config: `problems` holds one `file: field.path: message` line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _set_path(data: dict[str, Any], dotted: str, raw: str) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
    value = yaml.safe_load(raw) if raw != "" else ""
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value


def _user_path(loc: tuple[Any, ...], data: Any) -> str:
    """The error location as the user wrote it: discriminated unions add their tag (`math`, `python`) to the
    location, which is not a key in the file; keys that are really there (`weights.math`) stay."""
    parts, node = [], data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif part in _VERIFIER_KINDS | _UNION_TAGS:
            continue
        else:
            node = None
        parts.append(str(part))
    return ".".join(parts)


def _describe(error: dict[str, Any], data: Any = None) -> str:
    loc = _user_path(error["loc"], data)
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def load_config(path: str | Path, overrides: list[str] | None = None) -> CampaignConfig:
    """Read a campaign YAML, apply `--set a.b=value` overrides, validate; relative paths resolve against the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}".splitlines()[0]]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError([f"--set {item}: expected path.to.field=value"])
        try:
            _set_path(data, key.strip(), raw)
        except (ValueError, IndexError, TypeError, AttributeError):
            raise ConfigError([f"--set {item}: no such field path"]) from None
    _resolve_paths(data, path.parent)
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {_describe(e, data)}" for e in exc.errors()]) from None


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in a config mean relative to the config file, wherever `foundry` runs from."""
    for section, key in (("source", "path"), ("output", "path"), ("engine", "model")):
        node = data.get(section)
        value = node.get(key) if isinstance(node, dict) else None
        if isinstance(value, str) and "://" not in value and not Path(value).is_absolute():
            candidate = base / value
            # A source or model that is not a local file is a hub name (`openai/gsm8k`), left as is; a source
            # that names a file format is a file, even a missing one (so the error names the right path).
            is_file = section == "source" and Path(value).suffix.lower() in (".jsonl", ".json", ".parquet")
            if section == "output" or is_file or candidate.exists():
                node[key] = str(candidate.resolve())
    tools = data["generator"].get("tools") if isinstance(data.get("generator"), dict) else None
    for tool in tools if isinstance(tools, list) else []:
        corpus = tool.get("corpus") if isinstance(tool, dict) else None
        if isinstance(corpus, str) and not Path(corpus).is_absolute():
            tool["corpus"] = str((base / corpus).resolve())
