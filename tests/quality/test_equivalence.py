"""The fast paths of text, ngram and dedup against independent references: the regex definition of normalization,
n-gram hashes and coverage computed naively in Python, and datasketch computing MinHash signatures and LSH
candidates itself. Decisions (findings, duplicates) and stored signatures must not change with the speed-ups."""

from __future__ import annotations

import pickle
import random
import re
import unicodedata

import numpy as np
import pytest
import xxhash

from foundry.quality.dedup import Deduplicator
from foundry.quality.ngram import NgramIndex
from foundry.quality.text import analyze, gram_hashes, normalize, shingle_hashes, words

# ---- references ----------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"(?<!\w)\d+(?:[.,]\d+)*")
_NON_WORD = re.compile(r"[\W_]+")
_CAPITALIZED = re.compile(r"(?<![\w'’])[A-Z][a-z]+\b")
_MIX = [xxhash.xxh3_64_intdigest(f"foundry-gram-{i}".encode()) | 1 for i in range(64)]


def reference_normalize(text: str, mask_numbers: bool = False, mask_names: bool = False) -> str:
    """The definition: NFKC, names masked, lowercase, numbers masked, runs of non-word characters to one space."""
    text = unicodedata.normalize("NFKC", text)
    if mask_names:
        text = _CAPITALIZED.sub(" xname ", text)
    text = text.lower()
    if mask_numbers:
        text = _NUMBER.sub(" 0 ", text)
    return _NON_WORD.sub(" ", text).strip()


def reference_grams(tokens: list[str], n: int) -> list[int]:
    hashes = [xxhash.xxh3_64_intdigest(t.encode()) for t in tokens]
    return [sum(hashes[j + i] * _MIX[i] for i in range(n)) % 2**64 for j in range(len(tokens) - n + 1)]


def reference_coverage(documents: list[str], text: str, n: int, mask_numbers: bool, mask_names: bool,
                       max_postings: int) -> list[float]:
    """Per document: the share of its distinct n-grams (word tuples) found in the text, ignoring grams held by
    more than `max_postings` documents."""
    def grams(t: str) -> set[tuple[str, ...]]:
        w = reference_normalize(t, mask_numbers, mask_names).split()
        return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}

    per_doc = [grams(d) for d in documents]
    holders: dict[tuple[str, ...], int] = {}
    for g in per_doc:
        for gram in g:
            holders[gram] = holders.get(gram, 0) + 1
    found = {g for g in grams(text) if holders.get(g, 0) <= max_postings}
    return [len(g & found) / len(g) if g else 0.0 for g in per_doc]


def texts_to_check(gsm8k_rows: list[dict], count: int = 300) -> list[str]:
    rng = random.Random(7)
    rows = gsm8k_rows
    texts = [r["question"] for r in rows] + [r["answer"] for r in rows]
    texts += [r["question"].lower() for r in rows[:20]] + [r["question"].upper() for r in rows[:10]]
    texts += ["Filler words first. " + r["question"] + " And after." for r in rows[:30]]
    texts += [re.sub(r"\d+", lambda m: str(int(m.group()) + 3), r["question"]) for r in rows[:30]]
    alphabet = "aAbZz09 _.,'’-\n\t$%xÉé①ﬁ１２٣"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(count)]
    texts += ["Janet’s ducks lay 16 eggs — ﬁne", "mp3 x2 w10 30mph 7 _3 3_ 3.5x 1,000.25", "", "  ", "A"]
    return texts


# ---- normalization and grams -----------------------------------------------------------------------------------
def test_normalize_matches_the_regex_definition(gsm8k_rows):
    for text in texts_to_check(gsm8k_rows, 3000):
        for mask_numbers in (False, True):
            for mask_names in (False, True):
                expected = reference_normalize(text, mask_numbers, mask_names)
                assert normalize(text, mask_numbers, mask_names) == expected, (text, mask_numbers, mask_names)
                assert words(text, mask_numbers, mask_names) == expected.split()
                assert analyze(text, mask_numbers, mask_names).words == tuple(expected.split())


@pytest.mark.parametrize("order", [(8, 5), (5, 8), (1, 3, 8, 2)])
def test_analysis_grams_match_a_naive_computation(gsm8k_rows, order):
    for text in texts_to_check(gsm8k_rows, 50):
        text = text + " " + str(order)  # a text this test has not analyzed yet
        analysis = analyze(text, True, True)
        tokens = reference_normalize(text, True, True).split()
        for n in order:
            assert analysis.grams(n).tolist() == reference_grams(tokens, n)
            assert analysis.gram_values(n) == reference_grams(tokens, n)
            assert gram_hashes(tokens, n).tolist() == reference_grams(tokens, n)
        assert not analysis.grams(order[0]).flags.writeable  # shared between callers: read-only


def test_shingle_hashes_are_the_top_bits_of_the_grams():
    tokens = reference_normalize("One two three, four five six seven! One two three four").split()
    expected = sorted({g >> 32 for g in reference_grams(tokens, 5)})
    assert shingle_hashes(tokens, 5).tolist() == expected


# ---- n-gram coverage -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mask_numbers", "mask_names"), [(True, True), (True, False), (False, False)])
def test_best_matches_a_naive_coverage(gsm8k_rows, mask_numbers, mask_names):
    documents = [r["question"] for r in gsm8k_rows[:50]] + ["answer the question below carefully please now"] * 3
    index = NgramIndex(documents, n=8, mask_numbers=mask_numbers, mask_names=mask_names, max_postings=2)
    index = pickle.loads(pickle.dumps(index))  # as shipped to Ray: the lookup set is rebuilt where used
    for text in texts_to_check(gsm8k_rows, 20):
        coverage = reference_coverage(documents, text, 8, mask_numbers, mask_names, max_postings=2)
        match = index.best(text, longest=False)
        if max(coverage, default=0.0) == 0.0:
            assert match is None, text
            continue
        best = max(range(len(coverage)), key=lambda d: (coverage[d], -d))  # the first of the most covered
        assert (match.doc, match.coverage) == (best, pytest.approx(coverage[best], abs=1e-12)), text
        assert index.best(text, doc=3, longest=False).coverage == pytest.approx(coverage[3], abs=1e-12)


# ---- MinHash and LSH -------------------------------------------------------------------------------------------
def datasketch_signature(text: str, num_perm: int, seed: int, size: int = 5) -> np.ndarray:
    from datasketch import MinHash

    tokens = reference_normalize(text).split()
    shingles = {g >> 32 for g in reference_grams(tokens, min(size, len(tokens)))}
    minhash = MinHash(num_perm=num_perm, seed=seed, hashfunc=int, scheme="affine32")
    minhash.update_batch(sorted(shingles))
    return minhash.hashvalues


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 7), (256, 3)])
def test_signatures_are_datasketchs_bit_for_bit(gsm8k_rows, num_perm, seed):
    dedup = Deduplicator("near", num_perm=num_perm, seed=seed)
    for text in texts_to_check(gsm8k_rows, 100):
        expected = Deduplicator("exact").fingerprint(text)
        print_ = dedup.fingerprint(text)
        assert print_.key == expected.key
        if not reference_normalize(text):
            assert print_.signature is None
            continue
        reference = datasketch_signature(text, num_perm, seed)
        assert print_.signature.dtype == reference.dtype and np.array_equal(print_.signature, reference), text


@pytest.mark.parametrize("threshold", [0.8, 0.5, 0.95])
def test_lsh_candidates_and_duplicates_are_datasketchs(threshold):
    """The same candidates as datasketch's MinHashLSH holding the same signatures, and the same duplicates as
    MinHashLSH + the signature Jaccard used directly, over texts that are edited copies of one another."""
    from datasketch import MinHash, MinHashLSH

    rng = random.Random(threshold)
    vocabulary = [f"w{i}" for i in range(300)]
    texts: list[str] = []
    for _ in range(400):
        if texts and rng.random() < 0.5:
            copy = rng.choice(texts).split()
            for position in rng.sample(range(len(copy)), rng.randint(0, max(1, len(copy) // 6))):
                copy[position] = rng.choice(vocabulary)
            texts.append(" ".join(copy))
        else:
            texts.append(" ".join(rng.choices(vocabulary, k=rng.randint(5, 60))))
    ours = Deduplicator("near", threshold=threshold)
    lsh = MinHashLSH(threshold=min(max(threshold - 0.1, 0.05), 0.9), num_perm=128)
    kept: dict[str, np.ndarray] = {}
    kept_keys: dict[str, str] = {}
    for number, text in enumerate(texts):
        signature = datasketch_signature(text, 128, 1)
        minhash = MinHash(hashfunc=int, hashvalues=signature, permutations=ours._permutations, scheme="affine32")
        candidates = set(lsh.query(minhash))
        assert ours._candidates(signature) == candidates
        scored = [(float(np.mean(kept[c] == signature)), -int(c), c) for c in candidates]
        hits = [s for s in scored if s[0] >= threshold]
        found = ours.check_and_add(str(number), text)
        key = reference_normalize(text)
        if key in kept_keys:  # an exact copy of a kept text: found as such first
            assert (found.of, found.method, found.score) == (kept_keys[key], "exact", 1.0)
        elif hits:
            score, _, of = max(hits)
            assert (found.of, found.method, found.score) == (of, "near", score)
        else:
            assert found is None
            lsh.insert(str(number), minhash)
            kept[str(number)] = signature
            kept_keys[key] = str(number)
