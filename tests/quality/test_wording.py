"""How much of an item's wording a text keeps: values worked out by hand on letter "words" (no masks apply)."""

from __future__ import annotations

import pytest

from foundry.quality.wording import kept_words, overlap

ITEM = "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in $50,000 in repairs."
FILLER = " ".join(f"w{i}" for i in range(300))


@pytest.mark.parametrize(("text", "item", "expected"), [
    ("a b c d e", "a b c d e", 1.0),
    ("a b c d e", "v w x y z", 0.0),
    # numbers and capitalized words are masked: a copy with both changed is the same sequence of 3-grams
    ("Ann has 3 red pens and 4 blue pens", "Bob has 7 red pens and 1 blue pens", 1.0),
    # 5 words -> 3 distinct 3-grams each; they share "b c d" and "c d e" of 4 distinct in all
    ("a b c d e", "b c d e f", pytest.approx(2 / 4)),
])
def test_overlap_is_the_jaccard_of_masked_3grams(text, item, expected):
    assert overlap(text, item)[0] == expected


def test_overlap_finds_the_item_inside_a_long_text_and_where():
    share, where = overlap(f"{FILLER} {ITEM} {FILLER}", ITEM)
    assert share == 1.0
    assert 0.4 < where < 0.55  # the item starts just under half-way through the text


@pytest.mark.parametrize(("text", "item", "expected"), [
    ("a b c d e f g h", "a b c d e f g h", 1.0),
    ("q r s t", "a b c d e f g h", 0.0),
    # one word replaced: the item's 3-grams "a b c", "e f g", "f g h" survive and cover a b c e f g h
    ("a b c x e f g h", "a b c d e f g h", 7 / 8),
    # every other word replaced: no 3-gram survives, though half the words do
    ("a x c x e x g x", "a b c d e f g h", 0.0),
    # a quotation of the first 4 of 12 words, inside other text: those 4 words
    ("k l m n a b c d o p q r", "a b c d e f g h i j s t", 4 / 12),
    # masks: other numbers and names are the same words
    ("Ann buys 3 red pens and 4 blue pens today", "Bob buys 7 red pens and 1 blue pens today", 1.0),
    ("", "a b c d", 0.0),
    ("a b c d", "a b", 0.0),  # an item under 3 words has no 3-gram to keep
])
def test_kept_words_is_the_share_of_the_items_words_in_its_3grams_found_in_the_text(text, item, expected):
    assert kept_words(text, item) == pytest.approx(expected)


def test_kept_words_counts_one_stretch_of_the_text_only():
    """The item's two halves far apart in a long text: each window (1.5 times the item) holds one half."""
    item = "a b c d e f g h"
    assert kept_words(f"a b c d {FILLER} e f g h", item) == pytest.approx(4 / 8)
    assert kept_words(f"{FILLER} a b c d e f g h {FILLER}", item) == 1.0
