"""How much of a benchmark item's wording a text keeps, measured on word 3-grams with numbers and names masked.

A reworded copy of an item swaps a word here and there, so most of the item's short phrases survive all along it;
a different problem told in the same style shares a few stock phrases; a text quoting one sentence of an item keeps
that sentence and nothing else. Both measures look at windows of the text about the item's length, so the rest of
a long text neither helps nor dilutes.
"""

from __future__ import annotations

import numpy as np

from foundry.quality.text import gram_hashes, words

N = 3


def _masked(text: str) -> list[str]:
    return words(text, mask_numbers=True, mask_names=True)


def _windows(count: int, size: int) -> range:
    """Starts of windows of `size` words over `count` words, a quarter of a window apart (one if the text is short)."""
    return range(0, max(1, count - size + max(1, size // 4)), max(1, size // 4))


def overlap(text: str, item: str) -> tuple[float, float]:
    """Largest Jaccard similarity of the item's 3-grams and those of a window of the text as long as the item, and
    where that window starts (as a fraction of the text)."""
    item_words, text_words = _masked(item), _masked(text)
    target = set(gram_hashes(item_words, N).tolist())
    if not target or not text_words:
        return 0.0, 0.0
    size = len(item_words)
    grams = gram_hashes(text_words, N).tolist()  # gram i starts at word i: a window's grams are a slice
    best = (0.0, 0.0)
    for start in _windows(len(text_words), size):
        window = set(grams[start : start + size - N + 1])
        if window:
            best = max(best, (len(window & target) / len(window | target), -start / len(text_words)))
    return best[0], -best[1]


def kept_words(text: str, item: str) -> float:
    """The largest share of the item's words that lie in one of its 3-grams found in a window of the text 1.5
    times the item's length: near 1 for a reworded copy, the quoted span's share for a quotation."""
    item_words, text_words = _masked(item), _masked(text)
    item_grams = gram_hashes(item_words, N)
    if not len(item_grams) or len(text_words) < N:
        return 0.0
    size = max(N, len(item_words) * 3 // 2)
    grams = gram_hashes(text_words, N)
    best = 0
    for start in _windows(len(text_words), size):
        found = np.flatnonzero(np.isin(item_grams, grams[start : start + size - N + 1]))
        covered = np.zeros(len(item_words), dtype=bool)
        for offset in range(N):  # a found gram at i covers words i .. i + N - 1
            covered[found + offset] = True
        best = max(best, int(np.count_nonzero(covered)))
    return best / len(item_words)
