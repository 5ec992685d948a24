"""Text normalization and hashing shared by decontamination and dedup.

Normalization is what makes "Janet's ducks lay 16 eggs." and "janet s ducks lay 16 eggs" the same text: NFKC,
lowercase, every run of punctuation or whitespace becomes one space. Optionally numbers become one placeholder, so a
benchmark item with its numbers changed still shares its word n-grams with the original, and capitalized words
another, so one with its names swapped does too.
"""

from __future__ import annotations

import re
import sys
import unicodedata

import numpy as np
import xxhash

_NUMBER = re.compile(r"(?<!\w)\d+(?:[.,]\d+)*")  # a number starts a word: "x2", "mp3", "w10" stay words
_NON_WORD = re.compile(r"[\W_]+")  # punctuation, symbols and whitespace, in every script
NUMBER_TOKEN = "0"
# "Janet", "How"; not "iPhone", "NASA" or "x2". The capital comes first and the lookbehind after it (the same as
# (?<![\w'’])[A-Z][a-z]+\b) so the regex engine scans for capitals in C instead of trying every position.
_CAPITALIZED = re.compile(r"[A-Z](?<![\w'’][A-Z])[a-z]+\b")
NAME_TOKEN = "xname"

# Fixed odd multipliers: a gram's hash is sum(token_hash[i] * _MIX[i]) mod 2**64, so it is order-sensitive, computed
# for all grams of a text at once with numpy, and the same in every process (no per-process hash seed).
_MIX = np.array(
    [xxhash.xxh3_64_intdigest(f"foundry-gram-{i}".encode()) | 1 for i in range(64)], dtype=np.uint64
)


def normalize(text: str, mask_numbers: bool = False, mask_names: bool = False) -> str:
    """Lowercase, punctuation and whitespace collapsed to single spaces; numbers to one placeholder if asked, and
    capitalized words (names, and sentence starts alike, on both sides of a comparison) to another."""
    return " ".join(_words(text, mask_numbers, mask_names))


def words(text: str, mask_numbers: bool = False, mask_names: bool = False) -> list[str]:
    return _words(text, mask_numbers, mask_names)


def _normalize_regex(text: str, mask_numbers: bool, mask_names: bool) -> str:
    """The definition, for any script (`text` is NFKC already)."""
    if mask_names:
        text = _CAPITALIZED.sub(f" {NAME_TOKEN} ", text)
    text = text.lower()
    if mask_numbers:
        text = _NUMBER.sub(f" {NUMBER_TOKEN} ", text)
    return _NON_WORD.sub(" ", text).strip()


# ASCII text (most of it) is NFKC already, and there [\W_] is "not a letter or digit": str.translate drops
# punctuation and lowercases in one C pass, several times faster than the regex. The masks' regexes run only when
# they can match: a name needs an upper-case letter, a number a digit at the start or after a non-word character.
_ASCII_WORDS = str.maketrans({c: c.lower() if c.isalnum() else " " for c in map(chr, range(128))})
_DIGIT_STARTS = str.maketrans({c: "0" if c.isdigit() else "a" if c.isalnum() else " " for c in map(chr, range(128))})


def _may_hold_number(text: str) -> bool:
    marks = text.translate(_DIGIT_STARTS)
    return marks.startswith("0") or " 0" in marks


def _words(text: str, mask_numbers: bool, mask_names: bool, plain: tuple[str, ...] | None = None
           ) -> list[str] | tuple[str, ...]:
    """`normalize(...).split()`; `plain` (the words unmasked, when at hand) is returned as is when the masks find
    nothing to mask."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        return _normalize_regex(text, mask_numbers, mask_names).split()
    masked = False
    if mask_names and not text.islower():
        text, masked = _CAPITALIZED.sub(f" {NAME_TOKEN} ", text), True
    if mask_numbers and _may_hold_number(text):
        text, masked = _NUMBER.sub(f" {NUMBER_TOKEN} ", text), True  # before lowercasing: no digit or \w changes
    if not masked and plain is not None:
        return plain
    return text.translate(_ASCII_WORDS).split()


_TOKEN_CACHE_SIZE = 1 << 20


class _TokenHashes(dict):
    """Stable 64-bit hashes of words, memoized: a vocabulary repeats far more than it grows. A dict subclass with
    `__missing__`, so a lookup of a known word runs in C (`map(cache.__getitem__, ...)`), with no Python call.
    Values are the hashes' 8 bytes in native order: joined, they are the array (no int conversion per word)."""

    def __missing__(self, token: str) -> bytes:
        if len(self) >= _TOKEN_CACHE_SIZE:
            self.clear()
        value = self[token] = xxhash.xxh3_64_intdigest(token.encode()).to_bytes(8, sys.byteorder)
        return value


_TOKEN_HASHES = _TokenHashes()


def token_hashes(tokens: list[str]) -> np.ndarray:
    """One stable 64-bit hash per word (a read-only array)."""
    return np.frombuffer(b"".join(map(_TOKEN_HASHES.__getitem__, tokens)), dtype=np.uint64)


def gram_hashes(tokens: list[str], n: int) -> np.ndarray:
    """Hashes of every word n-gram of `tokens`, in order (empty when there are fewer than `n` words)."""
    return _grams(token_hashes(tokens), n)


def _grams(hashes: np.ndarray, n: int) -> np.ndarray:
    if n > len(_MIX):
        raise ValueError(f"n-grams of at most {len(_MIX)} words")
    count = len(hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    out = hashes[:count] * _MIX[0]
    for i in range(1, n):
        out += hashes[i : i + count] * _MIX[i]  # wraps mod 2**64 by design
    return out


class Analysis:
    """A text's words (normalized one way), their hashes and its n-gram hashes, read-only: a sample is looked at by
    several indexes (masked and plain questions, answers, dedup) and each would otherwise normalize it again."""

    __slots__ = ("words", "hashes", "_grams", "_values")

    def __init__(self, words: list[str] | tuple[str, ...]):
        self.words = tuple(words)
        self.hashes = token_hashes(words)
        self.hashes.flags.writeable = False
        self._grams: dict[int, np.ndarray] = {}
        self._values: dict[int, list[int]] = {}

    def grams(self, n: int) -> np.ndarray:
        """As `gram_hashes(words, n)`. Computed from one table of terms (word hash times the multiplier of its
        place in a gram), from which the shorter grams some caller has asked for come at the cost of one sum
        (decontamination's 8-grams give dedup its 5-grams)."""
        grams = self._grams.get(n)
        if grams is not None:
            return grams
        if n > len(_MIX):
            raise ValueError(f"n-grams of at most {len(_MIX)} words")
        global _ASKED
        if n not in _ASKED:
            _ASKED = tuple(sorted({*_ASKED, n}))
        count = len(self.hashes)
        terms = np.multiply.outer(_MIX[:n], self.hashes)  # terms[i, j]: word j as the i-th word of a gram
        for k in _ASKED:
            if k > n or k in self._grams:
                continue
            if count < k:
                grams = np.empty(0, dtype=np.uint64)
            else:  # gram j sums terms[i, j + i] for i < k: a strided view has them in column j
                diagonals = np.ndarray((k, count - k + 1), np.uint64, terms, 0, (terms.strides[0] + 8, 8))
                grams = np.add.reduce(diagonals, axis=0, dtype=np.uint64)  # wraps mod 2**64 by design
            grams.flags.writeable = False
            self._grams[k] = grams
        return self._grams[n]

    def gram_values(self, n: int) -> list[int]:
        """`grams(n)` as Python ints, for set lookups."""
        values = self._values.get(n)
        if values is None:
            values = self._values[n] = self.grams(n).tolist()
        return values


_ASKED: tuple[int, ...] = ()
"""The gram lengths `Analysis.grams` has been asked for in this process, in order (replaced, never mutated)."""
_RECENT: dict[tuple[str, bool, bool], Analysis] = {}
_RECENT_TEXTS, _RECENT_WORDS = 512, 1 << 17  # bounds what the cache holds (about 150 bytes a word)
_recent_words = 0


def analyze(text: str, mask_numbers: bool = False, mask_names: bool = False) -> Analysis:
    """The `Analysis` of `words(text, mask_numbers, mask_names)`, shared by the callers that ask for the same text
    soon after one another (a small cache, emptied when full: safe across threads, at worst a recomputation). A
    masked form with nothing to mask is the plain one, hashes and grams included."""
    global _recent_words
    key = (text, mask_numbers, mask_names)
    found = _RECENT.get(key)
    if found is not None:
        return found
    if len(_RECENT) >= _RECENT_TEXTS or _recent_words >= _RECENT_WORDS:
        _RECENT.clear()
        _recent_words = 0
    plain = analyze(text) if mask_numbers or mask_names else None
    tokens = _words(text, mask_numbers, mask_names, plain.words if plain is not None else None)
    found = plain if plain is not None and (tokens is plain.words or plain.words == tuple(tokens)) else \
        Analysis(tokens)
    _RECENT[key] = found
    _recent_words += len(tokens)
    return found


def exact_key(text: str) -> str:
    """Hash of the normalized text: two texts with the same key are exact duplicates up to case and punctuation."""
    return xxhash.xxh3_128_hexdigest(normalize(text).encode())


def shingle_hashes(tokens: list[str], size: int) -> np.ndarray:
    """Distinct 32-bit hashes of the word shingles (the whole text as one when it is shorter than `size` words)."""
    grams = gram_hashes(tokens, min(size, len(tokens))) if tokens else np.empty(0, dtype=np.uint64)
    return np.unique((grams >> np.uint64(32)).astype(np.uint32))
