"""The sample dedup index spread over real Ray actors answers as the one-process index does, holds each earlier
copy in exactly one actor, and works under the sample gate."""

from __future__ import annotations

import random

import pytest

from foundry.cluster.dedup_index import PartitionedDeduplicator, shard_of
from foundry.quality.dedup import Deduplicator
from foundry.quality.gates import SampleDedupGate
from foundry.types import Sample


def texts(seed: int = 7) -> list[tuple[str, str]]:
    """40 unrelated texts, then 20 with their last word changed (near copies: 35 of 37 five-word shingles shared,
    Jaccard 0.95) and 10 verbatim (exact) copies."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(3000)]
    base = [[rng.choice(vocabulary) for _ in range(40)] for _ in range(40)]
    near = []
    for i in range(20):
        words = list(base[i])
        words[-1] = rng.choice(vocabulary)
        near.append(words)
    rows = [(f"b{i}", " ".join(w)) for i, w in enumerate(base)]
    rows += [(f"n{i}", " ".join(w)) for i, w in enumerate(near)]
    rows += [(f"e{i}", " ".join(base[20 + i])) for i in range(10)]
    return rows


@pytest.mark.parametrize("mode", ["near", "exact"])
def test_spread_over_actors_it_answers_as_one_process_does(ray_local, mode):
    local, spread = Deduplicator(mode), PartitionedDeduplicator(Deduplicator(mode), 3)
    try:
        answers = []
        for item_id, text in texts():
            print_ = local.fingerprint(text)
            found, found_spread = local.find(print_), spread.find(print_)
            assert (found is None) == (found_spread is None), item_id
            if found is None:
                local.add(item_id, print_)
                spread.add(item_id, print_)
            else:
                assert (found_spread.of, found_spread.method) == (found.of, found.method), item_id
                assert found_spread.score == pytest.approx(found.score)
                answers.append((item_id, found.of, found.method))
        # independently known: each exact copy points at its base; in near mode each edited copy at its own base
        assert [a for a in answers if a[0].startswith("e")] == [(f"e{i}", f"b{20 + i}", "exact") for i in range(10)]
        if mode == "near":
            assert [a for a in answers if a[0].startswith("n")] == [(f"n{i}", f"b{i}", "near") for i in range(20)]
        sizes = spread.sizes()
        assert sum(sizes) == len(local) == 40 + (0 if mode == "near" else 20) and all(sizes)
        expected = [0, 0, 0]
        for item_id, _ in texts()[:40]:
            expected[shard_of(item_id, 3)] += 1
        if mode == "near":
            assert sizes == expected  # each earlier copy lives in the one actor its id hashes to
    finally:
        spread.close()


def test_the_sample_gate_over_a_spread_index(ray_local):
    spread = PartitionedDeduplicator(Deduplicator("near"), 2)
    gate = SampleDedupGate(spread)
    (_, first), (_, copy) = texts()[0], texts()[40]  # n0 is b0 with one word changed
    try:
        kept = Sample(id="s-kept", task_id="t1", sample_index=0, accepted=True, completion=first)
        assert gate.check(kept) is None
        gate.committed([kept])
        later = Sample(id="s-later", task_id="t2", sample_index=0, accepted=True, completion=copy)
        verdict = gate.check(later)
        assert verdict is not None and verdict.verifier == "dedup" and "s-kept" in verdict.reason
        # as a verifier actor's screen sends it: the fingerprint as bytes, looked up without the text
        screened = Sample(id="s-screened", task_id="t3", sample_index=0, accepted=True, completion="unrelated words",
                          fingerprint=spread.to_bytes(spread.fingerprint(copy)))
        assert "s-kept" in gate.check(screened).reason
    finally:
        spread.close()
