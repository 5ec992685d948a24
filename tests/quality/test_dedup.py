"""Dedup: exact by normalized hash; near by datasketch MinHash LSH, checked against the true Jaccard of shingle sets
computed here by hand."""

from __future__ import annotations

import pytest

from foundry.quality.dedup import Deduplicator

WORDS = [f"w{i}" for i in range(200)]


def true_jaccard(a: str, b: str, size: int = 5) -> float:
    """Jaccard of word 5-shingle sets, independent of the production code."""
    def grams(text):
        t = text.split()
        return {tuple(t[i : i + size]) for i in range(len(t) - size + 1)}
    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def pair(shared: int, own: int) -> tuple[str, str]:
    """Two texts sharing their first `shared` words, then `own` words each of their own."""
    base = WORDS[:shared]
    return (" ".join(base + [f"a{i}" for i in range(own)]), " ".join(base + [f"b{i}" for i in range(own)]))


@pytest.mark.parametrize(("shared", "own"), [(100, 0), (100, 2), (100, 5), (100, 10), (100, 25), (100, 60),
                                             (50, 50), (30, 100)])
def test_near_dup_estimate_tracks_true_jaccard(shared, own):
    first, second = pair(shared, own)
    truth = true_jaccard(first, second)
    dedup = Deduplicator("near", threshold=0.5, num_perm=256)
    dedup.add("first", dedup.fingerprint(first))
    found = dedup.find(dedup.fingerprint(second))
    estimate = found.score if found else None
    if truth >= 0.65:  # well above the threshold: found, with an estimate close to the truth
        assert found is not None and found.of == "first"
        assert abs(estimate - truth) < 0.1
    if truth <= 0.35:  # well below: never called a duplicate
        assert found is None


def test_threshold_decides_on_the_estimated_jaccard():
    first, second = pair(100, 10)  # 106 shingles each, 96 shared: 96 / 116
    truth = true_jaccard(first, second)
    assert truth == pytest.approx(96 / 116)
    for threshold, expected in ((0.7, True), (0.95, False)):
        dedup = Deduplicator("near", threshold=threshold)
        dedup.add("first", dedup.fingerprint(first))
        assert (dedup.find(dedup.fingerprint(second)) is not None) == expected


def test_exact_dup_ignores_case_and_punctuation():
    dedup = Deduplicator("exact")
    assert dedup.check_and_add("a", "The answer is 42.") is None
    found = dedup.check_and_add("b", "the ANSWER is 42")
    assert (found.of, found.method, found.score) == ("a", "exact", 1.0)
    assert dedup.check_and_add("c", "The answer is 43.") is None


def test_exact_mode_does_not_find_near_duplicates():
    first, second = pair(100, 2)
    dedup = Deduplicator("exact")
    dedup.check_and_add("first", first)
    assert dedup.check_and_add("second", second) is None


def test_duplicates_point_at_the_kept_text():
    first, second = pair(100, 2)
    dedup = Deduplicator("near", threshold=0.8)
    assert dedup.check_and_add("first", first) is None
    assert dedup.check_and_add("second", second).of == "first"
    assert dedup.check_and_add("third", second).of == "first"  # the duplicate itself was not added
    assert len(dedup) == 1


def test_the_most_similar_earlier_text_wins():
    text = " ".join(WORDS[:100])
    dedup = Deduplicator("near", threshold=0.5)
    dedup.add("far", dedup.fingerprint(" ".join(WORDS[:100] + [f"x{i}" for i in range(30)])))
    dedup.add("near", dedup.fingerprint(" ".join(WORDS[:100] + ["y0"])))
    assert dedup.find(dedup.fingerprint(text)).of == "near"


def test_unrelated_texts_and_empty_texts_are_not_duplicates():
    dedup = Deduplicator("near")
    dedup.check_and_add("a", " ".join(WORDS[:80]))
    assert dedup.check_and_add("b", " ".join(WORDS[100:180])) is None
    assert dedup.check_and_add("c", "") is None
    assert dedup.check_and_add("d", "...") is None


def test_agrees_with_datasketch_used_directly():
    """The same decision as a plain datasketch MinHashLSH query + MinHash.jaccard on 40 texts."""
    from datasketch import MinHash, MinHashLSH

    texts = [" ".join(WORDS[i % 7 * 20 : i % 7 * 20 + 60] + [f"t{i}"] * (i % 3)) for i in range(40)]
    ours = Deduplicator("near", threshold=0.8)
    lsh, kept, reference = MinHashLSH(threshold=0.8, num_perm=128), {}, []
    for number, text in enumerate(texts):
        tokens = text.split()
        grams = {" ".join(tokens[i : i + 5]).encode() for i in range(len(tokens) - 4)}
        m = MinHash(num_perm=128)
        m.update_batch(grams)
        hits = [k for k in lsh.query(m) if m.jaccard(kept[k]) >= 0.8]
        reference.append(bool(hits))
        if not hits:
            lsh.insert(str(number), m)
            kept[str(number)] = m
    assert [ours.check_and_add(str(n), t) is not None for n, t in enumerate(texts)] == reference


def test_a_stored_fingerprint_finds_what_the_text_would():
    """A shard keeps fingerprints as bytes: read back with the same settings they find the same copies; made with
    other settings (shingle size, permutations, mode) they are refused, so the caller fingerprints the text."""
    index = Deduplicator("near", 0.8)
    text = "The train left at noon and reached the coast two hours later, just before the storm began."
    index.add("first", index.fingerprint(text))
    stored = index.to_bytes(index.fingerprint(text + " It rained."))
    assert len(stored) == 8 + 16 + 4 * 128
    found = index.find(index.from_bytes(stored))
    assert found is not None and found.of == "first" and found.method == "near"
    assert index.find(index.from_bytes(index.to_bytes(index.fingerprint(text)))).method == "exact"
    assert Deduplicator("near", 0.8, shingle=3).from_bytes(stored) is None
    assert Deduplicator("near", 0.8, num_perm=64).from_bytes(stored) is None
    assert Deduplicator("exact").from_bytes(stored) is None
    assert index.from_bytes(None) is None and index.from_bytes(stored[:20]) is None
    exact = Deduplicator("exact")
    assert exact.find(exact.from_bytes(exact.to_bytes(exact.fingerprint(text)))) is None
    exact.add("a", exact.fingerprint(text))
    assert exact.find(exact.from_bytes(exact.to_bytes(exact.fingerprint(text.upper())))).of == "a"
