"""A set of string ids in about 8 bytes each, for the driver's per-task bookkeeping (committed tasks, source ids).

A Python `set[str]` costs ~100 bytes per id (the string plus its slot), which made a driver's memory grow with the
campaign (~1 KB per task all told). This keeps each id's 64-bit hash instead: up to 65,536 recent ones in a small
set (~4 MB), the rest in a sorted numpy array they are inserted into (a linear copy, ~10 ms at two million ids),
so lookups are a binary search.

Hashes are Python's own string hash, valid inside one process only: the set is rebuilt from its source (commit
records, the task file) in every process, never stored. Two ids share a 64-bit hash with probability about
n² / 2⁶⁵ (≈ 3·10⁻⁶ for ten million ids); such a pair would make the later id look already present.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_MERGE_AT = 1 << 16


class IdSet:
    """Add and test string ids; `len` counts distinct hashes."""

    def __init__(self, ids: Iterable[str] = ()):
        self._sorted = np.empty(0, dtype=np.int64)
        self._recent: set[int] = set()
        self.update(ids)

    def add(self, item: str) -> None:
        self._recent.add(hash(item))
        if len(self._recent) >= _MERGE_AT:
            self._merge()

    def update(self, items: Iterable[str]) -> None:
        for item in items:
            self.add(item)

    def __contains__(self, item: object) -> bool:
        key = hash(item)
        return key in self._recent or self._in_sorted(key)

    def __len__(self) -> int:
        return len(self._sorted) + sum(1 for key in self._recent if not self._in_sorted(key))

    def __eq__(self, other: object) -> bool:
        """Equal to a set (or IdSet) of the same ids, up to hash collisions; for tests and checks."""
        if isinstance(other, IdSet):
            other._merge()
            self._merge()
            return np.array_equal(self._sorted, other._sorted)
        if isinstance(other, (set, frozenset)):
            return len(self) == len({hash(item) for item in other}) and all(item in self for item in other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def nbytes(self) -> int:
        """Memory held, roughly: the array plus ~60 bytes per recent hash."""
        return self._sorted.nbytes + 60 * len(self._recent)

    def _in_sorted(self, key: int) -> bool:
        size = len(self._sorted)
        if not size:
            return False
        at = self._sorted.searchsorted(key)
        return at < size and self._sorted[at] == key

    def _merge(self) -> None:
        """Insert the recent hashes into the sorted array: a linear copy, not a re-sort of everything."""
        if not self._recent:
            return
        recent = np.sort(np.fromiter(self._recent, dtype=np.int64, count=len(self._recent)))
        at = np.searchsorted(self._sorted, recent)
        if len(self._sorted):
            keep = self._sorted[np.minimum(at, len(self._sorted) - 1)] != recent
            at, recent = at[keep], recent[keep]
        self._sorted = np.insert(self._sorted, at, recent)
        self._recent = set()
