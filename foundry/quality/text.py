"""Text normalization and hashing shared by decontamination and dedup.

Normalization is what makes "Janet's ducks lay 16 eggs." and "janet s ducks lay 16 eggs" the same text: NFKC,
lowercase, every run of punctuation or whitespace becomes one space. Optionally numbers become one placeholder, so a
benchmark item with its numbers changed still shares its word n-grams with the original, and capitalized words
another, so one with its names swapped does too.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import xxhash

_NUMBER = re.compile(r"(?<!\w)\d+(?:[.,]\d+)*")  # a number starts a word: "x2", "mp3", "w10" stay words
_NON_WORD = re.compile(r"[\W_]+")  # punctuation, symbols and whitespace, in every script
NUMBER_TOKEN = "0"
_CAPITALIZED = re.compile(r"(?<![\w'’])[A-Z][a-z]+\b")  # "Janet", "How"; not "iPhone", "NASA" or "x2"
NAME_TOKEN = "xname"

# Fixed odd multipliers: a gram's hash is sum(token_hash[i] * _MIX[i]) mod 2**64, so it is order-sensitive, computed
# for all grams of a text at once with numpy, and the same in every process (no per-process hash seed).
_MIX = np.array(
    [xxhash.xxh3_64_intdigest(f"foundry-gram-{i}".encode()) | 1 for i in range(64)], dtype=np.uint64
)


def normalize(text: str, mask_numbers: bool = False, mask_names: bool = False) -> str:
    """Lowercase, punctuation and whitespace collapsed to single spaces; numbers to one placeholder if asked, and
    capitalized words (names, and sentence starts alike, on both sides of a comparison) to another."""
    text = unicodedata.normalize("NFKC", text)
    if mask_names:
        text = _CAPITALIZED.sub(f" {NAME_TOKEN} ", text)
    text = text.lower()
    if mask_numbers:
        text = _NUMBER.sub(f" {NUMBER_TOKEN} ", text)
    return _NON_WORD.sub(" ", text).strip()


def words(text: str, mask_numbers: bool = False, mask_names: bool = False) -> list[str]:
    return normalize(text, mask_numbers, mask_names).split()


_TOKEN_CACHE_SIZE = 1 << 20


class _TokenHashes(dict):
    """Stable 64-bit hashes of words, memoized: a vocabulary repeats far more than it grows. A dict subclass with
    `__missing__`, so a lookup of a known word runs in C (`map(cache.__getitem__, ...)`), with no Python call."""

    def __missing__(self, token: str) -> int:
        if len(self) >= _TOKEN_CACHE_SIZE:
            self.clear()
        value = self[token] = xxhash.xxh3_64_intdigest(token.encode())
        return value


_TOKEN_HASHES = _TokenHashes()


def token_hashes(tokens: list[str]) -> np.ndarray:
    """One stable 64-bit hash per word."""
    return np.fromiter(map(_TOKEN_HASHES.__getitem__, tokens), dtype=np.uint64, count=len(tokens))


def gram_hashes(tokens: list[str], n: int) -> np.ndarray:
    """Hashes of every word n-gram of `tokens`, in order (empty when there are fewer than `n` words)."""
    if n > len(_MIX):
        raise ValueError(f"n-grams of at most {len(_MIX)} words")
    count = len(tokens) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    hashes = token_hashes(tokens)
    out = np.zeros(count, dtype=np.uint64)
    for i in range(n):
        out += hashes[i : i + count] * _MIX[i]  # wraps mod 2**64 by design
    return out


def exact_key(text: str) -> str:
    """Hash of the normalized text: two texts with the same key are exact duplicates up to case and punctuation."""
    return xxhash.xxh3_128_hexdigest(normalize(text).encode())


def shingle_hashes(tokens: list[str], size: int) -> np.ndarray:
    """Distinct 32-bit hashes of the word shingles (the whole text as one when it is shorter than `size` words)."""
    grams = gram_hashes(tokens, min(size, len(tokens))) if tokens else np.empty(0, dtype=np.uint64)
    return np.unique((grams >> np.uint64(32)).astype(np.uint32))
