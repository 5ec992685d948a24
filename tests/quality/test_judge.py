"""The decontamination judge: which pairs reach it, what its answers do, and that its failures decide nothing."""

from __future__ import annotations

import json
import re

import pytest

from foundry.errors import InfrastructureError
from foundry.quality.decontaminate import Decontaminator
from foundry.quality.judge import REGEX, ItemJudge

ITEM = "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in $50,000 in repairs."
# GSM8K test item 2 reworded by hand (synonyms, other numbers and name): cosine 0.79 to it, 18 % of its masked
# 3-grams: neither the n-gram nor the embedding rule calls it, the gray zone does.
REWORDED = ("Tomasz chooses to attempt flipping a home. He purchases a home for $91,000 and after that puts in $62,000 "
            "in repairs. This raised the value of the home by 120%. What amount of profit did he earn?")


class Judge:
    """Answers every pair the same way and remembers what it was asked."""

    model = "test"

    def __init__(self, answer: str | Exception):
        self.answer, self.asked = answer, []

    def complete(self, messages, json_schema, regex, max_tokens, temperature) -> str:
        self.asked.append(messages)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


YES, NO = '{"same": true}', '{"same": false}'


def test_a_long_text_reaches_the_judge_as_an_excerpt_around_the_item():
    judge = Judge(YES)
    filler = " ".join(f"w{i}" for i in range(1000))
    assert ItemJudge(judge, min_cosine=0.0, min_closeness=0.0).confirms(f"{filler} {ITEM} {filler}", ITEM, 0.9)
    prompt = judge.asked[0][-1]["content"]
    assert ITEM in prompt and len(prompt.split()) < 450


def test_the_gray_zone_goes_to_the_judge_and_its_answer_decides(benchmark_items, embedder):
    assert Decontaminator(benchmark_items, embedder=embedder).check(REWORDED) is None  # without a judge: missed
    yes, no = Judge(YES), Judge(NO)
    found = Decontaminator(benchmark_items, embedder=embedder, judge=ItemJudge(yes)).check(REWORDED)
    assert (found.method, found.item_id) == ("judge", "gsm8k-test-0002")
    assert "confirmed by the LLM judge" in found.reason()
    rejecting = ItemJudge(no)
    assert Decontaminator(benchmark_items, embedder=embedder, judge=rejecting).check(REWORDED) is None
    assert (rejecting.counts.calls, rejecting.counts.confirmed) == (1, 0)
    # the judge is shown the benchmark item the text is nearest to, and the text
    content = yes.asked[0][-1]["content"]
    assert benchmark_items[2].text in content and REWORDED in content


def test_clean_items_rarely_reach_the_judge(gsm8k_rows, benchmark_items, embedder):
    """The 50 held-out GSM8K items (same style, other problems): the gray zone keeps almost all from the judge."""
    judge = ItemJudge(Judge(NO))
    found = Decontaminator(benchmark_items, embedder=embedder, judge=judge).check_many(
        [r["question"] for r in gsm8k_rows[50:]])
    assert found.count(None) >= 49
    assert judge.counts.calls <= 2


def test_an_unreadable_answer_is_not_a_confirmation():
    judge = ItemJudge(Judge("maybe?"), min_cosine=0.0, min_closeness=0.0)
    assert not judge.confirms(ITEM, ITEM, 1.0)
    assert (judge.counts.calls, judge.counts.unreadable) == (1, 1)


def test_an_unreachable_judge_decides_nothing():
    judge = ItemJudge(Judge(InfrastructureError("judge down")), min_cosine=0.0, min_closeness=0.0)
    with pytest.raises(InfrastructureError):
        judge.confirms(ITEM, ITEM, 1.0)
    assert judge.counts.calls == 0


def test_the_prompt_asks_for_the_answers_the_structured_output_allows():
    judge = Judge(YES)
    ItemJudge(judge, min_cosine=0.0, min_closeness=0.0).confirms(ITEM, ITEM, 1.0)
    system, user = judge.asked[0]
    assert system["role"] == "system" and "same problem" in system["content"]
    for answer in (YES, NO):
        assert answer in user["content"] and re.fullmatch(REGEX, answer)
        assert json.loads(answer)["same"] == (answer == YES)
