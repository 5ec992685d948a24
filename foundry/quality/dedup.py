"""Duplicates: exact by a hash of the normalized text, near by MinHash LSH (datasketch's scheme, computed here).

LSH only proposes candidates (texts that share a band of their signatures); a candidate is called a duplicate only
when the Jaccard similarity estimated from the two full signatures reaches the threshold. Texts are added by the
caller, so what counts as an "earlier copy" is the caller's choice (the campaign adds each sample it keeps, in the
order it commits them).

Signatures are datasketch's `MinHash(scheme="affine32")` of the shingle hashes, bit for bit, and the bands are
those `MinHashLSH` would use: both are computed with numpy and plain dicts, without a datasketch object per text
(building those cost more than the hashing).
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import xxhash

from foundry.quality.text import analyze, exact_key

DedupMode = Literal["none", "exact", "near"]


@dataclass(frozen=True)
class Duplicate:
    """The id of the earlier copy, how it was found (`exact` | `near`) and the (estimated) Jaccard similarity."""

    of: str
    method: str
    score: float

    def reason(self, what: str = "text") -> str:
        if self.method == "exact":
            return f"exact duplicate of {what} {self.of}"
        return f"near-duplicate of {what} {self.of} (Jaccard {self.score:.2f})"


@dataclass(frozen=True)
class Fingerprint:
    """What the index keeps of a text: its exact key and, in near mode, its MinHash signature."""

    key: str
    signature: np.ndarray | None = None


_HEADER = struct.Struct("<BBHI")
"""A stored fingerprint's header: format version, shingle size, permutations, seed (what its signature depends on)."""
_VERSION = 1


_EMPTY = exact_key("")


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity estimated from two MinHash signatures (the share of equal slots, as datasketch does)."""
    return float(np.count_nonzero(a == b)) / len(a)


_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_MAX32 = np.uint32(0xFFFFFFFF)
_HIGH_HALF = 1 if sys.byteorder == "little" else 0
"""Where a uint64's top 32 bits sit when it is viewed as two uint32."""


def minhash_signature(hashes: np.ndarray, permutations: np.ndarray) -> np.ndarray:
    """datasketch's affine32 MinHash of 32-bit values (hashfunc=int): each value premixed by the MurmurHash3
    finalizer, then per permutation (a, b) the least `a * h + b` mod 2**32. Repeats and order do not matter."""
    if not len(hashes):
        return np.full(permutations.shape[1], _MAX32, dtype=np.uint32)
    shift1, mult1, shift2, mult2, shift3 = _FMIX32
    hashes = hashes.astype(np.uint32, copy=False)
    h = hashes ^ (hashes >> shift1)  # a new array, mixed in place below, wrapping mod 2**32 as datasketch's does
    h *= mult1
    h ^= h >> shift2
    h *= mult2
    h ^= h >> shift3
    permuted = np.multiply.outer(h, permutations[0])
    permuted += permutations[1]
    return np.minimum.reduce(permuted, axis=0)


def _signature_bytes(signature: np.ndarray) -> bytes:
    """The signature as uint32 bytes, whose slices are the LSH bands' keys (datasketch's bands, byte-swapped)."""
    return np.asarray(signature, dtype=np.uint32).tobytes()


@lru_cache(maxsize=None)
def _lsh_setup(num_perm: int, seed: int, threshold: float) -> tuple[np.ndarray, int, int]:
    """The permutations datasketch draws for (num_perm, seed) and the (bands, rows) its MinHashLSH picks for the
    threshold (the search costs a few hundred integrals: once per process)."""
    from datasketch import MinHash  # imports scipy: only when near dedup is on
    from datasketch.lsh import _optimal_param

    permutations = MinHash(num_perm=num_perm, seed=seed, hashfunc=int, scheme="affine32").permutations
    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)  # MinHashLSH's default weights
    if bands < 2:
        raise ValueError("The number of bands are too small (b < 2)")  # as MinHashLSH says
    permutations = permutations.copy()
    permutations.flags.writeable = False
    return permutations, bands, rows


class Deduplicator:
    """An index of earlier texts; `find` says which one a new text duplicates, `add` makes a text an earlier copy."""

    def __init__(self, mode: DedupMode = "near", threshold: float = 0.8, num_perm: int = 128, shingle: int = 5,
                 seed: int = 1):
        if mode == "none":
            raise ValueError("no index for dedup mode 'none'")
        self.mode, self.threshold, self.shingle, self.num_perm, self.seed = mode, threshold, shingle, num_perm, seed
        self._exact: dict[str, str] = {}
        self._signatures: dict[str, np.ndarray] = {}
        self._order: dict[str, int] = {}
        if mode == "near":
            # Candidates come from LSH tuned a little below the threshold (fewer misses near it; datasketch also
            # refuses thresholds that leave one band); the signature Jaccard then decides.
            self._permutations, bands, rows = _lsh_setup(num_perm, seed, min(max(threshold - 0.1, 0.05), 0.9))
            self._bands = [(i * rows * 4, (i + 1) * rows * 4) for i in range(bands)]  # byte ranges (uint32)
            # Per band: band bytes -> the id holding it, or a list of ids when several do (rare). Ids rather than
            # one-item lists keep the buckets out of the garbage collector's way (a dict of strings is untracked).
            self._buckets: list[dict[bytes, Any]] = [{} for _ in range(bands)]

    def __len__(self) -> int:
        return len(self._exact)

    def fingerprint(self, text: str) -> Fingerprint:
        analysis = analyze(text)
        key = xxhash.xxh3_128_hexdigest(" ".join(analysis.words).encode())  # = exact_key(text), normalizing once
        if self.mode == "exact" or not analysis.words:
            return Fingerprint(key)
        # The shingle hashes of text.shingle_hashes (the grams' top 32 bits), repeats kept (a minimum ignores them).
        shingles = analysis.grams(min(self.shingle, len(analysis.words))).view(np.uint32)[_HIGH_HALF::2]
        return Fingerprint(key, minhash_signature(shingles, self._permutations))

    def to_bytes(self, print_: Fingerprint) -> bytes:
        """The fingerprint as a shard stores it (`fingerprint` column): a header naming the settings it was made
        with, the exact key's 16 bytes, then the signature as little-endian uint32."""
        signature = b"" if print_.signature is None else print_.signature.astype("<u4", copy=False).tobytes()
        return _HEADER.pack(_VERSION, self.shingle, self.num_perm, self.seed) + bytes.fromhex(print_.key) + signature

    def from_bytes(self, stored: bytes | None) -> Fingerprint | None:
        """A stored fingerprint, or None when there is none or it was made with other settings (or another mode):
        the caller then fingerprints the text again."""
        if not stored or len(stored) < _HEADER.size + 16 or \
                _HEADER.unpack_from(stored) != (_VERSION, self.shingle, self.num_perm, self.seed):
            return None
        key, signature = stored[_HEADER.size:_HEADER.size + 16].hex(), stored[_HEADER.size + 16:]
        if not signature:
            return Fingerprint(key) if self.mode == "exact" or key == _EMPTY else None
        if self.mode != "near" or len(signature) != 4 * self.num_perm:
            return None
        return Fingerprint(key, np.frombuffer(signature, dtype="<u4").astype(np.uint32, copy=False))

    def find(self, print_: Fingerprint) -> Duplicate | None:
        """The earlier copy this fingerprint duplicates: the exact one, else the most similar near one. A text
        with no words duplicates nothing."""
        if print_.key == _EMPTY:
            return None
        if print_.key in self._exact:
            return Duplicate(self._exact[print_.key], "exact", 1.0)
        if self.mode != "near" or print_.signature is None:
            return None
        best: tuple[tuple[float, int], str] | None = None
        for candidate in self._candidates(print_.signature):
            score = _jaccard(self._signatures[candidate], print_.signature)
            rank = (score, -self._order[candidate])  # most similar; among equals, the earliest added
            if score >= self.threshold and (best is None or rank > best[0]):
                best = (rank, candidate)
        return Duplicate(best[1], "near", best[0][0]) if best else None

    def find_many(self, prints: list[Fingerprint]) -> list[Duplicate | None]:
        return [self.find(print_) for print_ in prints]

    def find_among(self, print_: Fingerprint, others: list[tuple[str, Fingerprint]]) -> Duplicate | None:
        """As `find`, against a short list of (id, fingerprint) that is not in the index (compared one by one)."""
        best: Duplicate | None = None
        for other_id, other in others:
            if print_.key == _EMPTY:
                return None
            if other.key == print_.key:
                return Duplicate(other_id, "exact", 1.0)
            if self.mode == "near" and print_.signature is not None and other.signature is not None:
                score = _jaccard(print_.signature, other.signature)
                if score >= self.threshold and (best is None or score > best.score):
                    best = Duplicate(other_id, "near", score)
        return best

    def add(self, item_id: str, print_: Fingerprint) -> None:
        """Make this text an earlier copy for later `find`s (the first text with an id wins)."""
        if print_.key == _EMPTY:
            return
        self._exact.setdefault(print_.key, item_id)
        if self.mode == "near" and print_.signature is not None and item_id not in self._signatures:
            self._signatures[item_id] = print_.signature
            self._order[item_id] = len(self._order)
            raw = _signature_bytes(print_.signature)
            for (start, end), bucket in zip(self._bands, self._buckets):
                band = raw[start:end]
                ids = bucket.get(band)
                if ids is None:
                    bucket[band] = item_id
                elif isinstance(ids, list):
                    ids.append(item_id)
                else:
                    bucket[band] = [ids, item_id]

    def check_and_add(self, item_id: str, text: str) -> Duplicate | None:
        """Find, then add the text if it duplicates nothing (so duplicates point at a kept text)."""
        print_ = self.fingerprint(text)
        found = self.find(print_)
        if found is None:
            self.add(item_id, print_)
        return found

    def _candidates(self, signature: np.ndarray) -> set[str]:
        """The indexed ids sharing a band with this signature (MinHashLSH.query, without a MinHash)."""
        raw, found = _signature_bytes(signature), set()
        for (start, end), bucket in zip(self._bands, self._buckets):
            ids = bucket.get(raw[start:end])
            if ids is not None:
                if isinstance(ids, list):
                    found.update(ids)
                else:
                    found.add(ids)
        return found
