"""Word n-gram index over benchmark documents, scored by coverage rather than "any shared n-gram".

The score of a text against a benchmark document is the fraction of the document's distinct n-grams that occur in
the text. A text that contains the whole item (verbatim, or wrapped in a long answer) scores near 1; a long
completion that happens to quote one common phrase of an item scores a few percent, where lm-eval's "any 13-gram"
rule would flag it. The index is three numpy arrays built once per run (cheap to pickle into Ray's object store).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foundry.quality.text import analyze, gram_hashes, words


@dataclass(frozen=True)
class NgramMatch:
    doc: int
    """Index of the benchmark document (in the order given to the index)."""
    coverage: float
    """Fraction of the document's distinct n-grams found in the text."""
    longest: int
    """Longest run of consecutive words of the text that is also in the document (0 when under n)."""


class NgramIndex:
    """Distinct n-gram hashes of every document, sorted, with posting lists of the documents holding them."""

    def __init__(self, documents: list[str], n: int = 8, mask_numbers: bool = True, max_postings: int = 50,
                 mask_names: bool = False):
        self.n, self.mask_numbers, self.max_postings, self.mask_names = n, mask_numbers, max_postings, mask_names
        per_doc = [np.unique(gram_hashes(words(d, mask_numbers, mask_names), n)) for d in documents]
        self.gram_counts = np.array([len(g) for g in per_doc], dtype=np.int64)
        """Distinct n-grams per document; 0 for documents shorter than n words (the n-gram stage skips them)."""
        all_hashes = np.concatenate(per_doc) if per_doc else np.empty(0, dtype=np.uint64)
        all_docs = np.repeat(np.arange(len(per_doc), dtype=np.int32), self.gram_counts)
        order = np.argsort(all_hashes, kind="stable")
        sorted_hashes, self.postings = all_hashes[order], all_docs[order]
        self.hashes, starts = np.unique(sorted_hashes, return_index=True)
        self.offsets = np.append(starts, len(sorted_hashes)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.gram_counts)

    def best(self, text: str, doc: int | None = None, longest: bool = True) -> NgramMatch | None:
        """The document this text covers most (or the given `doc`), or None when they share no (informative)
        n-gram. `longest=False` skips the longest-run figure (0), which no decision needs."""
        analysis = analyze(text, self.mask_numbers, self.mask_names)
        if self._known().isdisjoint(analysis.gram_values(self.n)):  # most texts: nothing to count
            return None
        query = analysis.grams(self.n)
        slot = np.searchsorted(self.hashes, query)
        slot[slot == len(self.hashes)] = 0
        hit = self.hashes[slot] == query
        positions, slots = np.nonzero(hit)[0], slot[hit]
        lengths = self.offsets[slots + 1] - self.offsets[slots]
        keep = lengths <= self.max_postings  # a gram in very many items (boilerplate) says nothing about one item
        positions, slots, lengths = positions[keep], slots[keep], lengths[keep]
        if not len(slots):
            return None
        # Expand each matched gram into (position in text, document) pairs.
        pair_pos = np.repeat(positions, lengths)
        first = np.repeat(self.offsets[slots] - np.cumsum(lengths) + lengths, lengths)
        pair_docs = self.postings[first + np.arange(len(pair_pos))]
        distinct = np.unique(pair_docs.astype(np.int64) * len(self.hashes) + np.repeat(slots, lengths))
        found = np.bincount(distinct // len(self.hashes), minlength=len(self))
        coverage = np.divide(found, self.gram_counts, out=np.zeros(len(self)), where=self.gram_counts > 0)
        doc = int(np.argmax(coverage)) if doc is None else doc
        run = self._longest(np.unique(pair_pos[pair_docs == doc])) if longest else 0
        return NgramMatch(doc, float(coverage[doc]), run)

    def _known(self) -> set[int]:
        """The indexed gram hashes as a set of ints, built on first use: a text that shares none (most) is told
        apart with one C-level pass, where the binary search costs a chain of cache misses per gram."""
        known = self.__dict__.get("_set")
        if known is None:
            known = self._set = set(self.hashes.tolist())
        return known

    def __getstate__(self) -> dict:
        """Without the set (a few MB, rebuilt in milliseconds where it is used)."""
        return {k: v for k, v in self.__dict__.items() if k != "_set"}

    def _longest(self, positions: np.ndarray) -> int:
        if not len(positions):
            return 0
        breaks = np.nonzero(np.diff(positions) != 1)[0]
        runs = np.diff(np.concatenate(([-1], breaks, [len(positions) - 1])))
        return int(runs.max()) + self.n - 1
