"""LLM-judge confirmation of gray-zone benchmark neighbours: is this text the item restated?

The embedding stage finds each text's nearest benchmark item; when the pair is too far apart to call alone but
close in meaning and wording together, a judge decides. The gray zone is narrow on purpose: closeness is the cosine
plus twice the share of word 3-grams (numbers and names masked) between the item and the part of the text the item's
length that is most like it. A different problem set in the same kind of story shares the meaning but few 3-grams;
a text quoting one phrase of an item shares a few 3-grams but little meaning, so neither costs a call. (The weight
and the thresholds were picked on one draw of benchmarks/quality_gates.py and checked on another.) The judge is
anything with the rubric judge's `complete` (the campaign's replicas, or an OpenAI-compatible endpoint).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from foundry.quality.wording import overlap

if TYPE_CHECKING:
    from foundry.verifiers.rubric import Judge

SYSTEM = ("Say whether the text poses the same problem as the benchmark item. Other names, numbers, wording or "
          "sentence order do not make it another problem; another question or situation does.")
SCHEMA = {"type": "object", "properties": {"same": {"type": "boolean"}}, "required": ["same"]}
REGEX = r'\{"same": (true|false)\}'


@dataclass
class JudgeCalls:
    """What the judge was asked and said, for the report: calls, confirmed, and unreadable answers."""

    calls: int = 0
    confirmed: int = 0
    unreadable: int = 0


class ItemJudge:
    """Asks a judge whether a text restates a benchmark item, for pairs in the gray zone only."""

    def __init__(self, judge: Judge, min_cosine: float = 0.5, min_closeness: float = 1.125, max_words: int = 400):
        self.judge, self.min_cosine, self.min_closeness, self.max_words = judge, min_cosine, min_closeness, max_words
        self.counts = JudgeCalls()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def confirms(self, text: str, item: str, cosine: float) -> bool:
        """Whether the pair is in the gray zone (closeness = cosine + 2 x 3-gram overlap) and the judge calls it the
        same problem."""
        if cosine < self.min_cosine:
            return False
        share, where = overlap(text, item)
        return cosine + 2 * share >= self.min_closeness and self.same(self.excerpt(text, item, where), item)

    def same(self, text: str, item: str) -> bool:
        """The judge's answer; an answer that does not parse counts as "not the same" (the cheaper stages already
        let the text through). A judge that cannot be reached raises (InfrastructureError): no decision is made."""
        answer = self.judge.complete(self.messages(text, item), SCHEMA, REGEX, max_tokens=24, temperature=0.0)
        try:
            same = json.loads(answer.strip())["same"]
            readable = isinstance(same, bool)
        except (ValueError, KeyError, TypeError):
            readable, same = False, False
        with self._lock:
            self.counts.calls += 1
            self.counts.confirmed += bool(readable and same)
            self.counts.unreadable += not readable
        return bool(readable and same)

    def excerpt(self, text: str, item: str, where: float) -> str:
        """A long text is cut to `max_words` around the window most like the item, so the prompt stays short."""
        tokens = text.split()
        if len(tokens) <= self.max_words:
            return text
        start = max(0, min(int(where * len(tokens)) - len(item.split()) // 2, len(tokens) - self.max_words))
        return " ".join(tokens[start : start + self.max_words])

    def messages(self, text: str, item: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Benchmark problem:\n{item}\n\nText:\n{text}\n\n"
                                            'Answer {"same": true} or {"same": false}.'}]
