"""N-gram coverage scores with answers worked out by hand."""

from __future__ import annotations

import pytest

from foundry.quality.ngram import NgramIndex

DOC = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10"  # 10 words: with n=8, three 8-grams (starting at w1, w2, w3)


def test_full_copy_covers_everything():
    match = NgramIndex([DOC], n=8).best("prefix words " + DOC + " and more after it")
    assert match.doc == 0 and match.coverage == 1.0 and match.longest == 10


def test_partial_copy_coverage_is_the_share_of_the_item_grams():
    match = NgramIndex([DOC], n=8).best("x w1 w2 w3 w4 w5 w6 w7 w8 w9 y")  # grams at w1 and w2 only
    assert match.coverage == pytest.approx(2 / 3)
    assert match.longest == 9


def test_best_document_is_the_most_covered():
    other = "v1 v2 v3 v4 v5 v6 v7 v8 v9 v10 v11 v12"  # 5 grams
    index = NgramIndex([DOC, other], n=8)
    text = "v1 v2 v3 v4 v5 v6 v7 v8 v9 v10 w1 w2 w3 w4 w5 w6 w7 w8"  # other: 3/5, DOC: 1/3
    match = index.best(text)
    assert match.doc == 1 and match.coverage == pytest.approx(3 / 5)


def test_no_shared_gram_is_none_and_short_documents_are_skipped():
    index = NgramIndex([DOC, "too short"], n=8)
    assert index.best("completely unrelated words that share nothing with the document at all") is None
    assert list(index.gram_counts) == [3, 0]


def test_masked_numbers_match_changed_numbers():
    doc = "he buys 3 apples and 4 pears and then eats 2 of them"
    assert NgramIndex([doc], n=8, mask_numbers=True).best(
        "he buys 30 apples and 41 pears and then eats 7 of them").coverage == 1.0
    assert NgramIndex([doc], n=8, mask_numbers=False).best(
        "he buys 30 apples and 41 pears and then eats 7 of them") is None


def test_boilerplate_grams_shared_by_many_documents_carry_no_weight():
    docs = [f"answer the following question carefully please item{i} alpha beta gamma delta" for i in range(60)]
    index = NgramIndex(docs, n=6, max_postings=50)
    # the opening 6-gram is in all 60 documents: above max_postings, so it matches none of them
    assert index.best("answer the following question carefully please") is None
