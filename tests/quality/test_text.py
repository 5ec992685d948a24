"""Normalization and n-gram hashing: the same words are the same grams, whatever the case and punctuation."""

from __future__ import annotations

import numpy as np
import pytest

from foundry.quality.text import exact_key, gram_hashes, normalize, shingle_hashes, words


@pytest.mark.parametrize(("text", "expected"), [
    ("Janet’s ducks lay 16 eggs per day.", "janet s ducks lay 16 eggs per day"),
    ("  How MANY\tbolts,\n in total?! ", "how many bolts in total"),
    ("$80,000 — then 150%...", "80 000 then 150"),
    ("snake_case and Ünïcödé", "snake case and ünïcödé"),
    ("ﬁne ligature", "fine ligature"),  # NFKC
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_numbers_are_masked_as_one_token():
    assert normalize("He buys a house for $80,000 and 2.5 acres", mask_numbers=True) == \
        "he buys a house for 0 and 0 acres"


def test_same_words_give_same_gram_hashes_across_texts():
    a = gram_hashes(words("one two three four five six"), 3)
    b = gram_hashes(words("ZERO, one two three! four five six"), 3)
    assert len(a) == 4 and len(b) == 5
    assert list(a) == list(b[1:])


def test_gram_hashes_are_order_sensitive_and_distinct():
    a = gram_hashes(["a", "b", "c"], 3)
    b = gram_hashes(["c", "b", "a"], 3)
    assert a[0] != b[0]
    many = gram_hashes([f"w{i}" for i in range(5000)], 8)
    assert len(np.unique(many)) == len(many)


def test_text_shorter_than_n_has_no_grams():
    assert len(gram_hashes(["a", "b"], 3)) == 0


def test_exact_key_ignores_case_punctuation_and_spacing():
    assert exact_key("Hello, World!") == exact_key("hello   world")
    assert exact_key("Hello, World!") != exact_key("Hello, Word!")


def test_shingle_hashes_are_the_distinct_shingles():
    assert len(shingle_hashes(["a", "b", "c", "a", "b", "c"], 3)) == 3  # abc, bca, cab
    assert len(shingle_hashes(["a", "b"], 5)) == 1  # shorter than a shingle: the whole text
    assert len(shingle_hashes([], 5)) == 0
    assert shingle_hashes(words("x y z"), 2).dtype.name == "uint32"


def test_digits_inside_words_are_not_masked():
    assert normalize("mp3 x2 w10 30mph 7", mask_numbers=True) == "mp3 x2 w10 0 mph 0"
