"""The `search` tool: BM25 (Okapi, k1=1.5, b=0.75) over a local JSONL corpus, in memory.

Small enough to own: no search library is a dependency, and a corpus for tool-use data fits in memory.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from foundry.config import SearchToolConfig
from foundry.generators.tools.base import ToolOutput
from foundry.sources import read_jsonl

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BM25:
    """Okapi BM25 with an inverted index; `top(query, k)` -> [(document index, score)], best first."""

    def __init__(self, documents: list[str], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.freqs = [Counter(tokenize(doc)) for doc in documents]
        self.lengths = [sum(f.values()) for f in self.freqs]
        self.average = (sum(self.lengths) / len(documents) if documents else 0.0) or 1.0
        self.postings: dict[str, list[int]] = defaultdict(list)
        for index, freq in enumerate(self.freqs):
            for term in freq:
                self.postings[term].append(index)
        n = len(documents)
        self.idf = {term: math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
                    for term, docs in self.postings.items()}

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        scores: dict[int, float] = defaultdict(float)
        for term in set(tokenize(query)):
            for index in self.postings.get(term, ()):
                tf = self.freqs[index][term]
                norm = self.k1 * (1 - self.b + self.b * self.lengths[index] / self.average)
                scores[index] += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
        return heapq.nlargest(k, scores.items(), key=lambda item: (item[1], -item[0]))


class SearchArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(description="What to look for.")


def load_corpus(path: str, text_field: str, title_field: str | None) -> list[dict[str, str]]:
    """Documents as {title, text}; rows without text are skipped (a corpus is data, not config to fail on)."""
    documents = []
    for _, row in read_jsonl(path, "tools.corpus"):
        if isinstance(row, dict) and isinstance(row.get(text_field), str):
            title = row.get(title_field) if title_field else None
            documents.append({"title": str(title) if title else "", "text": row[text_field]})
    return documents


class SearchTool:
    arguments = SearchArguments
    grace_seconds = 0.0

    def __init__(self, config: SearchToolConfig):
        self.name, self.description = config.name, config.description
        self.top_k = config.top_k
        self.timeout_seconds, self.max_output_chars = config.timeout_seconds, config.max_output_chars
        self.documents = load_corpus(config.corpus, config.text_field, config.title_field)
        self.index = BM25([f"{d['title']} {d['text']}" for d in self.documents])

    def run(self, arguments: SearchArguments, state: dict[str, Any]) -> ToolOutput:
        hits = self.index.top(arguments.query, self.top_k)
        if not hits:
            return ToolOutput("No results.")
        passages = []
        for rank, (index, _) in enumerate(hits, 1):
            doc = self.documents[index]
            passages.append(f"[{rank}] {doc['title']}\n{doc['text']}" if doc["title"] else f"[{rank}] {doc['text']}")
        return ToolOutput("\n\n".join(passages))

    def close(self) -> None:
        pass
