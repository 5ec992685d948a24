"""The sample dedup index spread over Ray actors, for campaigns whose committed samples outgrow one process.

Each actor holds a `Deduplicator` over the samples whose id hashes to it: the index state is partitioned, never
copied. A lookup asks every actor at once and keeps the best answer (an exact copy first, then the most similar
near copy; between actors, the lower-numbered one on a tie). An add goes to one actor without waiting: Ray runs one
caller's calls to an actor in the order they were made, so a lookup made after an add sees it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from foundry.quality.dedup import Deduplicator, Duplicate, Fingerprint


class DedupIndexShard:
    """One actor's part of the index: the earlier copies whose id hashes to it."""

    def __init__(self, mode: str, threshold: float, num_perm: int, shingle: int, seed: int):
        self.index = Deduplicator(mode, threshold, num_perm=num_perm, shingle=shingle, seed=seed)

    def find_many(self, prints: list[Fingerprint]) -> list[Duplicate | None]:
        return self.index.find_many(prints)

    def add(self, item_id: str, print_: Fingerprint) -> None:
        self.index.add(item_id, print_)

    def size(self) -> int:
        return len(self.index)


def shard_of(item_id: str, shards: int) -> int:
    """Stable across processes and runs (a resumed run rebuilds the same layout from committed shards)."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big") % shards


class PartitionedDeduplicator:
    """`Deduplicator`'s interface (fingerprint, its bytes, find, find_many, find_among, add) over `shards` Ray actors.
    Fingerprints and comparisons within a task are computed here; only the index lives in the actors."""

    def __init__(self, local: Deduplicator, shards: int):
        import ray

        self.local, self.mode, self.threshold = local, local.mode, local.threshold
        actor = ray.remote(DedupIndexShard).options(num_cpus=0)  # memory-bound; a CPU each would starve tasks
        self.shards = [actor.remote(local.mode, local.threshold, local.num_perm, local.shingle, local.seed)
                       for _ in range(shards)]

    def fingerprint(self, text: str) -> Fingerprint:
        return self.local.fingerprint(text)

    def to_bytes(self, print_: Fingerprint) -> bytes:
        return self.local.to_bytes(print_)

    def from_bytes(self, stored: bytes | None) -> Fingerprint | None:
        return self.local.from_bytes(stored)

    def find_among(self, print_: Fingerprint, others: list[tuple[str, Fingerprint]]) -> Duplicate | None:
        return self.local.find_among(print_, others)

    def find(self, print_: Fingerprint) -> Duplicate | None:
        return self.find_many([print_])[0]

    def find_many(self, prints: list[Fingerprint]) -> list[Duplicate | None]:
        """One call per actor for all the prints; per print the best answer of any actor."""
        import ray

        per_shard = ray.get([shard.find_many.remote(prints) for shard in self.shards])
        return [max((a for a in answers if a is not None), key=lambda a: (a.method == "exact", a.score),
                    default=None)  # max keeps the first of equals: the lower-numbered actor
                for answers in zip(*per_shard)]

    def add(self, item_id: str, print_: Fingerprint) -> None:
        self.shards[shard_of(item_id, len(self.shards))].add.remote(item_id, print_)

    def sizes(self) -> list[int]:
        import ray

        return ray.get([shard.size.remote() for shard in self.shards])

    def __len__(self) -> int:
        return sum(self.sizes())

    def close(self) -> None:
        import ray

        for shard in self.shards:
            ray.kill(shard)


def spread(dedup: Any, shards: int) -> Any:
    """The sample index as given (one process) or over `shards` actors."""
    return dedup if shards <= 1 else PartitionedDeduplicator(dedup, shards)
