"""The quality gates as campaign steps: plain synchronous objects the executor calls, no Ray.

Task gates run before a task is scheduled (an excluded task never reaches a replica and is written to the
`excluded` split); sample gates run on accepted samples after verification, before commit (a hit is a failing
verdict, so the sample lands in the rejected split). Dedup gates run before decontamination gates: hashing is
cheaper than n-grams and embeddings, and the task dedup index then sees every task, which keeps it the same on
resume (see `TaskDedupGate.resumed`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from foundry.config import CampaignConfig
from foundry.config.quality import DecontaminateConfig, DedupConfig
from foundry.quality.benchmarks import load_benchmark
from foundry.quality.decontaminate import Decontaminator
from foundry.quality.dedup import Deduplicator, Fingerprint
from foundry.quality.embedding import Embedder
from foundry.quality.judge import ItemJudge
from foundry.quality.screen import SampleScreen
from foundry.types import Sample, Task, Verdict

EXCLUDED_SCHEMA = pa.schema([
    ("task_id", pa.string()),
    ("prompt", pa.string()),
    ("gate", pa.string()),
    ("reason", pa.string()),
    ("method", pa.string()),
    ("score", pa.float64()),
    ("benchmark", pa.string()),
    ("item_id", pa.string()),
    ("duplicate_of", pa.string()),
])
"""Rows of `data/excluded-*.parquet`: one per task a gate kept from the GPU, with the reason."""


@dataclass(frozen=True)
class Exclusion:
    """Why a task gate excluded a task: `gate` is `decontaminate` or `dedup`, `method` how it was found."""

    gate: str
    reason: str
    method: str
    score: float
    benchmark: str | None = None
    item_id: str | None = None
    duplicate_of: str | None = None


def task_text(task: Task) -> str:
    """The text a task gate looks at: the prompt, or the content of its chat messages."""
    if task.prompt is not None:
        return task.prompt
    return "\n".join(str(m.get("content") or "") for m in task.messages or [])


def excluded_row(task: Task, exclusion: Exclusion) -> dict[str, Any]:
    """The task's row of EXCLUDED_SCHEMA."""
    return {"task_id": task.id, "prompt": task_text(task), "gate": exclusion.gate, "reason": exclusion.reason,
            "method": exclusion.method, "score": exclusion.score, "benchmark": exclusion.benchmark,
            "item_id": exclusion.item_id, "duplicate_of": exclusion.duplicate_of}


class TaskDecontaminationGate:
    """Excludes a task whose prompt is a benchmark item (verbatim, wrapped, numbers changed, rephrased)."""

    def __init__(self, decontaminator: Decontaminator):
        self.decontaminator = decontaminator
        self.blocking = decontaminator.embedding is not None
        """It may wait on something (the embedding model, the judge): the executor runs it in a thread then."""

    def check(self, task: Task) -> Exclusion | None:
        found = self.decontaminator.check(task_text(task))
        if found is None:
            return None
        return Exclusion("decontaminate", found.reason(), found.method, found.score, found.benchmark, found.item_id)

    def resumed(self, task: Task) -> None:
        """Nothing to remember: decontamination does not depend on earlier tasks."""


class TaskDedupGate:
    """Excludes a task whose prompt repeats an earlier task's (exact or near); the first in source order stays."""

    def __init__(self, dedup: Deduplicator):
        self.dedup = dedup
        self._lock = threading.Lock()
        self.blocking = False
        """Hashing only: the executor runs it on its loop."""

    def check(self, task: Task) -> Exclusion | None:
        with self._lock:
            found = self.dedup.check_and_add(task.id, task_text(task))
        if found is None:
            return None
        return Exclusion("dedup", found.reason("task"), found.method, found.score, duplicate_of=found.of)

    def resumed(self, task: Task) -> None:
        """A task resume skips (committed earlier) is still an earlier copy: call this for each, in source order,
        so later tasks meet the same index as in an uninterrupted run."""
        self.check(task)


class SampleDecontaminationGate:
    """Rejects an accepted sample whose completion contains or restates a benchmark item. `ngram=False`: the
    n-gram stage ran where the sample was verified (`SampleScreen`), only the embedding stage is left."""

    def __init__(self, decontaminator: Decontaminator, semantic: bool = False, ngram: bool = True):
        self.decontaminator, self.semantic, self.ngram = decontaminator, semantic, ngram
        self.blocking = semantic and decontaminator.embedding is not None
        """Completions embedded (and judged): it may wait on the model or the judge. N-grams only: it computes."""

    def check(self, sample: Sample) -> Verdict | None:
        return self.check_many([sample])[0]

    def check_many(self, samples: list[Sample]) -> list[Verdict | None]:
        """A task's samples at once (the embedding stage encodes them in one batch)."""
        found = self.decontaminator.check_many([s.completion for s in samples], self.semantic, self.ngram)
        return [None if f is None else Verdict(verifier="decontaminate", passed=False, score=0.0, reason=f.reason())
                for f in found]

    def committed(self, samples: list[Any]) -> None:
        """Nothing to remember."""


class SampleDedupGate:
    """Rejects an accepted sample that repeats an accepted sample gated before it (of an earlier task, or an
    earlier-indexed sample of its own task). A sample that repeats nothing joins the index at once, so copies
    within one commit window are caught too. `ordered`: the executor gates tasks in the order it commits them, so
    a crash that loses a sample loses every later sample rejected as its copy; a resumed run rebuilds the index
    from the committed shards (`committed`)."""

    ordered = True

    def __init__(self, dedup: Deduplicator):
        self.dedup = dedup
        self._queued: set[str] = set()
        """Ids indexed when gated and not committed yet (so a commit does not fingerprint them again)."""
        self._lock = threading.Lock()  # the executor may gate in a worker thread, and commits in another
        self.blocking = not isinstance(dedup, Deduplicator)
        """An index spread over actors is asked over the network; one in this process is only computed."""

    def check(self, sample: Sample) -> Verdict | None:
        return self.check_many([sample])[0]

    def check_many(self, samples: list[Sample]) -> list[Verdict | None]:
        """A task's samples: one lookup of the index for all of them (one round trip per actor when it is spread
        over actors), then each, in index order, against the earlier samples of its task it kept. Fingerprints
        come with the samples when a screen made them (else they are made here)."""
        prints = [self._fingerprint(s.fingerprint, s.completion) for s in samples]
        verdicts: list[Verdict | None] = [None] * len(samples)
        with self._lock:
            found = self.dedup.find_many(prints)
            kept: list[tuple[str, Fingerprint]] = []
            for i in sorted(range(len(samples)), key=lambda i: samples[i].sample_index):
                duplicate = found[i] if found[i] is not None and found[i].of != samples[i].id else None
                duplicate = duplicate or self.dedup.find_among(prints[i], kept)
                if duplicate is None:
                    kept.append((samples[i].id, prints[i]))
                else:
                    verdicts[i] = Verdict(verifier="dedup", passed=False, score=0.0,
                                          reason=duplicate.reason("sample"))
            for sample_id, print_ in kept:
                self.dedup.add(sample_id, print_)
                self._queued.add(sample_id)
        return verdicts

    def committed(self, samples: list[Any]) -> None:
        """Committed samples (Sample objects, or shard rows with id, completion, accepted when a resumed run
        rebuilds the index); accepted ones not indexed yet become earlier copies."""
        with self._lock:
            for sample in samples:
                get = sample.get if isinstance(sample, dict) else lambda k, s=sample: getattr(s, k, None)
                sample_id = str(get("id"))
                if sample_id in self._queued:
                    self._queued.discard(sample_id)
                elif get("accepted") and isinstance(get("completion"), str):
                    self.dedup.add(sample_id, self._fingerprint(get("fingerprint"), get("completion")))

    def _fingerprint(self, stored: bytes | None, text: str) -> Fingerprint:
        """The stored fingerprint when it was made with this index's settings, else the text's, made now."""
        return self.dedup.from_bytes(stored) or self.dedup.fingerprint(text)


@dataclass
class Gates:
    """The gates a campaign's `quality:` block asks for, in the order the executor should run them."""

    task_gates: list[Any] = field(default_factory=list)
    sample_gates: list[Any] = field(default_factory=list)
    judge: ItemJudge | None = None
    """The decontamination judge, if any (its call counts go into the run record)."""
    screen: SampleScreen | None = None
    """The sample gates' stateless part, for the verifier actors (when built `screened`)."""

    def close(self) -> None:
        """Stop what the gates started: a sample index spread over Ray actors."""
        for gate in self.sample_gates:
            close = getattr(getattr(gate, "dedup", None), "close", None)
            if close is not None:
                close()


def build_decontaminator(config: DecontaminateConfig, cache_dir: str | None = None,
                         judge: Any = None) -> Decontaminator:
    """Load every benchmark and build both stages once (raises QualityInputError naming file and field). `judge`
    answers for `config.judge` (anything with the rubric judge's `complete`); without one, no pair is judged."""
    items = []
    for number, bench in enumerate(config.benchmarks):
        fields = bench.fields
        items += load_benchmark(bench.name, bench.path, fields.text, fields.answer, fields.id, bench.format,
                                where=f"quality.decontaminate.benchmarks.{number} ({bench.name})",
                                split=bench.split, subset=bench.subset)
    embedder = Embedder(config.embedding.model, cache_dir, device=config.embedding.device) \
        if config.embedding.enabled else None
    return Decontaminator(items, n=config.ngram.n, threshold=config.ngram.threshold,
                          mask_numbers=config.ngram.mask_numbers, embedder=embedder,
                          embedding_threshold=config.embedding.threshold,
                          supported_threshold=config.embedding.supported_threshold,
                          support_coverage=config.embedding.support_coverage,
                          reworded_threshold=config.embedding.reworded_threshold,
                          reworded_closeness=config.embedding.reworded_closeness,
                          judge=ItemJudge(judge, config.judge.min_cosine, config.judge.min_closeness)
                          if judge is not None and config.judge is not None else None)


def _dedup(config: DedupConfig, mode: str) -> Deduplicator:
    return Deduplicator(mode, config.threshold, num_perm=config.num_perm, shingle=config.shingle)


def build_gates(campaign: CampaignConfig, cache_dir: str | None = None,
                spread: Callable[[Deduplicator, int], Any] = lambda dedup, _partitions: dedup,
                judge: Any = None, screened: bool = False) -> Gates:
    """The campaign's gates (none when `quality` is unset); benchmark paths are already absolute after
    `load_config`. `cache_dir` is where the packaged embedding model is unzipped (default ~/.cache/foundry);
    `spread` places the sample index (the caller's choice: over Ray actors for `dedup.partitions` > 1); `judge`
    answers for `decontaminate.judge` (the caller's: the campaign's replicas, a pool, an endpoint). `screened`:
    the caller runs `gates.screen` where it verifies samples, so the sample gates leave its work to it."""
    quality, gates = getattr(campaign, "quality", None), Gates()
    if quality is None:
        return gates
    screened_decontaminator = screened_dedup = None
    if quality.dedup is not None and quality.dedup.tasks != "none":
        gates.task_gates.append(TaskDedupGate(_dedup(quality.dedup, quality.dedup.tasks)))
    if quality.decontaminate is not None:
        decontaminator = build_decontaminator(quality.decontaminate, cache_dir, judge)
        gates.judge = decontaminator.judge
        if "prompt" in quality.decontaminate.check:
            gates.task_gates.append(TaskDecontaminationGate(decontaminator))
        if "completion" in quality.decontaminate.check:
            semantic = quality.decontaminate.embedding.completions and decontaminator.embedding is not None
            if screened:
                screened_decontaminator = decontaminator.ngram_only()
            if semantic or not screened:
                gates.sample_gates.append(SampleDecontaminationGate(decontaminator, semantic, ngram=not screened))
    if quality.dedup is not None and quality.dedup.samples != "none":
        dedup = _dedup(quality.dedup, quality.dedup.samples)
        if screened:
            screened_dedup = _dedup(quality.dedup, quality.dedup.samples)  # for its settings; the index stays here
        gates.sample_gates.append(SampleDedupGate(spread(dedup, quality.dedup.partitions)))
    if screened_decontaminator is not None or screened_dedup is not None:
        gates.screen = SampleScreen(screened_decontaminator, screened_dedup)
    return gates
