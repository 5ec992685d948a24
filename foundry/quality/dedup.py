"""Duplicates: exact by a hash of the normalized text, near by MinHash LSH (datasketch).

LSH only proposes candidates (texts that share a band of their signatures); a candidate is called a duplicate only
when the Jaccard similarity estimated from the two full signatures reaches the threshold. Texts are added by the
caller, so what counts as an "earlier copy" is the caller's choice (the campaign adds committed samples only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import xxhash

from foundry.quality.text import exact_key, shingle_hashes, words

if TYPE_CHECKING:
    from datasketch import MinHash

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


_EMPTY = exact_key("")


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity estimated from two MinHash signatures (the share of equal slots, as datasketch does)."""
    return float(np.count_nonzero(a == b)) / len(a)


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
            from datasketch import MinHash, MinHashLSH  # imports scipy: only when near dedup is on

            template = MinHash(num_perm=num_perm, seed=seed, hashfunc=int)
            self._permutations, self._seed, self._num_perm = template.permutations, seed, num_perm
            # Candidates come from LSH tuned a little below the threshold (fewer misses near it; datasketch also
            # refuses thresholds that leave one band); the signature Jaccard then decides.
            self._lsh = MinHashLSH(threshold=min(max(threshold - 0.1, 0.05), 0.9), num_perm=num_perm)

    def __len__(self) -> int:
        return len(self._exact)

    def fingerprint(self, text: str) -> Fingerprint:
        tokens = words(text)
        key = xxhash.xxh3_128_hexdigest(" ".join(tokens).encode())  # = exact_key(text), normalizing once
        if self.mode == "exact" or not tokens:
            return Fingerprint(key)
        from datasketch import MinHash

        # Shingles arrive already hashed (32-bit, numpy): `int` as datasketch's hashfunc passes them through.
        minhash = MinHash(num_perm=self._num_perm, seed=self._seed, hashfunc=int,
                          permutations=self._permutations, scheme="affine32")
        minhash.update_batch(shingle_hashes(tokens, self.shingle).tolist())
        return Fingerprint(key, minhash.hashvalues.copy())

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
        for candidate in self._lsh.query(self._minhash(print_.signature)):
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
            self._lsh.insert(item_id, self._minhash(print_.signature))

    def check_and_add(self, item_id: str, text: str) -> Duplicate | None:
        """Find, then add the text if it duplicates nothing (so duplicates point at a kept text)."""
        print_ = self.fingerprint(text)
        found = self.find(print_)
        if found is None:
            self.add(item_id, print_)
        return found

    def _minhash(self, signature: np.ndarray) -> MinHash:
        from datasketch import MinHash

        return MinHash(seed=self._seed, hashfunc=int, hashvalues=signature, permutations=self._permutations,
                       scheme="affine32")
