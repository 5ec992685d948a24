"""Is this text a benchmark item? Word n-gram coverage first, then (optionally) embedding similarity.

The n-gram stage is exact and cheap and sees verbatim copies, copies wrapped in other text and, with numbers and
capitalized words masked, copies with their numbers changed or their names swapped. The embedding stage runs only
on what the n-gram stage let through and catches rephrasings: alone above a high cosine, or above a lower one
when the same item also shares a few of its n-grams with the text (`ngram+embedding`). Every finding says which
stage found it (`method`: `ngram`, `embedding`, `ngram+embedding`, `judge`), so a report can count them apart.
A reworded copy keeps most of the item's short phrases all along it (`wording.kept_words`): that, with a cosine
lower still, is the third rule (`ngram+embedding` too).
With a judge (`ItemJudge`), a nearest item that neither rule calls but that is close in meaning and wording (the
gray zone) is put to an LLM, which has the last word on those pairs only (`judge`).
"""

from __future__ import annotations

from dataclasses import dataclass

from foundry.quality.benchmarks import BenchmarkItem
from foundry.quality.embedding import Embedder, EmbeddingIndex
from foundry.quality.judge import ItemJudge
from foundry.quality.ngram import NgramIndex
from foundry.quality.wording import kept_words


@dataclass(frozen=True)
class Contamination:
    """Which benchmark item a text matched, how (`ngram` | `embedding` | `ngram+embedding` | `judge`) and how
    strongly (n-gram coverage, or cosine for the others)."""

    benchmark: str
    item_id: str
    method: str
    score: float
    field: str = "text"
    """The item's field the text matched: `text` (the question) or `answer`."""

    def reason(self) -> str:
        what = {"ngram": "n-gram coverage", "embedding": "embedding cosine",
                "judge": "confirmed by the LLM judge, embedding cosine"}.get(
            self.method, "embedding cosine (with shared n-grams)")
        part = "" if self.field == "text" else f" ({self.field})"
        return f"{self.benchmark} item {self.item_id}{part}: {what} {self.score:.2f}"

    def as_dict(self) -> dict:
        return {"benchmark": self.benchmark, "item_id": self.item_id, "method": self.method,
                "score": round(self.score, 4)}


class Decontaminator:
    """Both stages over a fixed set of benchmark items, built once per run and then read-only (picklable)."""

    def __init__(self, items: list[BenchmarkItem], n: int = 8, threshold: float = 0.5, mask_numbers: bool = True,
                 embedder: Embedder | None = None, embedding_threshold: float = 0.85,
                 supported_threshold: float = 0.75, support_coverage: float = 0.1, near_miss: float = 0.05,
                 reworded_threshold: float = 0.6, reworded_closeness: float = 1.35, judge: ItemJudge | None = None):
        self.items, self.threshold, self.embedding_threshold = items, threshold, embedding_threshold
        self.supported_threshold, self.support_coverage = supported_threshold, support_coverage
        self.reworded_threshold, self.reworded_closeness = reworded_threshold, reworded_closeness
        # Questions are compared with numbers masked (a changed number is still the same item); answers as they
        # are: masked, worked solutions of different problems look alike ("0 0 0 0 0 0 0 0").
        # Capitalized words are masked too, so a copy with its names swapped still matches; a near miss (some of an
        # item's n-grams, not enough) is checked again with them as they are, so a copy in lower case is not lost.
        # Only near misses: clean texts pay for one index.
        self.questions = NgramIndex([i.text for i in items], n=n, mask_numbers=mask_numbers, mask_names=True)
        self.cased = NgramIndex([i.text for i in items], n=n, mask_numbers=mask_numbers)
        self.near_miss = near_miss
        self.answer_items = [index for index, item in enumerate(items) if item.answer]
        self.answers = NgramIndex([items[i].answer for i in self.answer_items], n=n, mask_numbers=False)
        self.embedding = EmbeddingIndex([i.text for i in items], embedder) if embedder else None
        self.judge = judge
        """Confirms gray-zone neighbours (the embedding stage's nearest items that neither rule calls)."""

    def ngram_only(self) -> Decontaminator:
        """This decontaminator without its embedding model and judge: what a verifier actor needs to run the n-gram
        stage (the model stays with the driver, which embeds in batches)."""
        copy = object.__new__(Decontaminator)
        copy.__dict__.update(self.__dict__, embedding=None, judge=None)
        return copy

    @property
    def benchmarks(self) -> list[str]:
        return sorted({item.benchmark for item in self.items})

    def check(self, text: str | None, semantic: bool = True) -> Contamination | None:
        return self.check_many([text], semantic)[0]

    def check_many(self, texts: list[str | None], semantic: bool = True, ngram: bool = True
                   ) -> list[Contamination | None]:
        """One finding (or None) per text; the embedding stage (if built, and `semantic`) sees only texts the
        n-gram stage passed. `ngram=False`: they passed it already (a verifier actor's screen ran it)."""
        found = [self._ngram(t) if t and ngram else None for t in texts]
        if self.embedding is not None and semantic:
            rest = [i for i, t in enumerate(texts) if t and found[i] is None]
            floor = min(self.embedding_threshold, self.supported_threshold, self.reworded_threshold,
                        self.judge.min_cosine if self.judge else 1.0)
            for i, (doc, score) in zip(rest, self.embedding.best_many([texts[i] for i in rest])):
                if doc >= 0 and score >= floor:
                    found[i] = self._semantic(texts[i], doc, score)
        return found

    def _semantic(self, text: str, doc: int, score: float) -> Contamination | None:
        """An embedding neighbour counts alone above `embedding_threshold`; above `supported_threshold` when the
        same item also shares `support_coverage` of its n-grams with the text (a reworded copy keeps some); above
        `reworded_threshold` when the cosine plus the share of the item's words the text keeps in 3-grams reaches
        `reworded_closeness`. Below all three, the judge (if any) decides a gray-zone pair."""
        item = self.items[doc]
        if score >= self.embedding_threshold:
            return Contamination(item.benchmark, item.item_id, "embedding", score)
        if score >= self.supported_threshold:
            match = self.questions.best(text, doc=doc, longest=False)
            if match is not None and match.coverage >= self.support_coverage:
                return Contamination(item.benchmark, item.item_id, "ngram+embedding", score)
        if score >= self.reworded_threshold and score + kept_words(text, item.text) >= self.reworded_closeness:
            return Contamination(item.benchmark, item.item_id, "ngram+embedding", score)
        if self.judge is not None and self.judge.confirms(text, item.text, score):
            return Contamination(item.benchmark, item.item_id, "judge", score)
        return None

    def _ngram(self, text: str) -> Contamination | None:
        best = None
        for index, field, positions in ((self.questions, "text", None), (self.answers, "answer", self.answer_items)):
            match = index.best(text, longest=False)
            if field == "text" and match is not None and self.near_miss <= match.coverage < self.threshold:
                cased = self.cased.best(text, longest=False)
                match = cased if cased is not None and cased.coverage > match.coverage else match
            if match is not None and match.coverage >= self.threshold and (best is None or match.coverage > best[0]):
                best = (match.coverage, field, match.doc if positions is None else positions[match.doc])
        if best is None:
            return None
        item = self.items[best[2]]
        return Contamination(item.benchmark, item.item_id, "ngram", best[0], best[1])
