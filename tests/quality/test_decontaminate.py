"""Decontamination on real GSM8K test items: contaminated variants made by hand, clean controls from other items.

Benchmark: the first 50 GSM8K test problems (question + worked answer). Each variant below was written for this
test from one of them, so which item it leaks is known independently of the code; the method column says which
stage must find it: the n-gram stage for copies (verbatim, wrapped, numbers changed, answer copied), the embedding
stage for rewordings (which share no or few word 8-grams with the original).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "configs" / "data"

REPHRASED = {
    "gsm8k-test-0000": "Every day Janet's ducks produce 16 eggs. Each morning she has three of them for breakfast, "
    "and she uses four to bake muffins for her friends daily. The rest she sells at the farmers' market for $2 "
    "apiece. How many dollars does she earn daily at the market?",
    "gsm8k-test-0003": "Each week James runs 3 sprints, three times. Every sprint is 60 meters long. How many meters "
    "does he run in total per week?",
    "gsm8k-test-0006": "Seattle has 20 sheep. Charleston owns four times as many sheep as Seattle, and Toulouse owns "
    "twice the number Charleston has. What is the total number of sheep in the three cities?",
    "gsm8k-test-0009": "For her first 40 hours of work each week Eliza is paid $10 an hour, and overtime is paid at "
    "1.2 times that rate. She worked 45 hours this week. What did she earn?",
    "gsm8k-test-0010": "In its first month a new app was downloaded 60 times. In month two it got three times as many "
    "downloads as in month one, but in month three downloads dropped by 30%. What was the total number of downloads "
    "across the three months?",
    # sentences reordered and the name swapped (Carlos -> Miguel)
    "gsm8k-test-0012": "Each year it will grow 7 lemons, which Miguel can sell for $1.5 each. Miguel is planting a "
    "lemon tree. It costs $3 a year to water and feed the tree. The tree will cost $90 to plant. How many years "
    "will it take before he starts earning money on the lemon tree?",
}
NUMBERS_CHANGED = {
    "gsm8k-test-0009": "Eliza's rate per hour for the first 35 hours she works each week is $12. She also receives "
    "an overtime pay of 1.5 times her regular hourly rate. If Eliza worked for 41 hours this week, how much are her "
    "earnings for this week?",
    "gsm8k-test-0011": "Toula went to the bakery and bought various types of pastries. She bought 4 dozen donuts which "
    "cost $70 per dozen, 3 dozen mini cupcakes which cost $85 per dozen, and 5 dozen mini cheesecakes for $52 per "
    "dozen. How much was the total cost?",
}
NAMES_SWAPPED = {
    "gsm8k-test-0021": "Oluwaseun and Ingrid are cousins. Oluwaseun was born 6 years before Ingrid. Oluwaseun had a "
    "son at the age of 23. If Ingrid is now 31, how many years ago was Oluwaseun's son born?",
    "gsm8k-test-0034": "Keiko has 2 fewer jewels than Dmitri. Dmitri has 5 more jewels than half of Beatriz's jewels. "
    "If Beatriz has 40 jewels, how many jewels does Keiko have?",
}
"""Every name swapped: almost no word 8-gram of the item survives unless capitalized words are masked."""
QUOTED_PHRASE = "she sells the remainder at the farmers' market daily for $2 per fresh duck egg"
"""15 words of item 0: lm-eval's any-13-gram rule flags any text that quotes it."""
LONG_TEXT_QUOTING_A_PHRASE = (
    "Last Saturday I walked to the little market at the edge of town, the way I do most weekends when the weather "
    "allows it. The stalls were crowded with families, and an old farmer told me about his neighbour: "
    f"{QUOTED_PHRASE}, and she has done so for thirty years without missing a single week. I bought bread, some "
    "honey and a bag of apples, then sat on a bench by the fountain and watched the pigeons fight over crumbs while "
    "a street musician played the accordion. On the way home it started to rain, so I waited under the awning of "
    "the bakery and talked with the baker about the new bridge the town council wants to build over the river."
)


def _question(rows, item_id):
    return next(r for r in rows if r["id"] == item_id)


def contaminated_cases(rows):
    q = {r["id"]: r["question"] for r in rows}
    a = {r["id"]: r["answer"] for r in rows}
    cases = [
        ("verbatim", q["gsm8k-test-0000"], "gsm8k-test-0000", "ngram", "text"),
        ("verbatim, other spacing and case", q["gsm8k-test-0004"].upper().replace("  ", " "), "gsm8k-test-0004",
         "ngram", "text"),
        ("wrapped in a longer text", "I found this one in an old worksheet and I am stuck, can you help? "
         + q["gsm8k-test-0002"] + " Please show all the steps of the calculation and explain why the value "
         "increased the way it did, because my teacher wants the full reasoning and not only the final number.",
         "gsm8k-test-0002", "ngram", "text"),
        ("worked answer copied", "Sure, here is the solution. " + a["gsm8k-test-0001"], "gsm8k-test-0001", "ngram",
         "answer"),
    ]
    cases += [("numbers changed", text, item, "ngram", "text") for item, text in NUMBERS_CHANGED.items()]
    cases += [("names swapped", text, item, "ngram", "text") for item, text in NAMES_SWAPPED.items()]
    cases.append(("verbatim in lower case", q["gsm8k-test-0007"].lower(), "gsm8k-test-0007", "ngram", "text"))
    cases += [("rephrased", text, item, "embedding", "text") for item, text in REPHRASED.items()]
    return cases


def test_contaminated_variants_are_caught_by_the_expected_stage(decontaminator, gsm8k_rows):
    for label, text, item, method, field in contaminated_cases(gsm8k_rows[:50]):
        found = decontaminator.check(text)
        assert found is not None, label
        assert (found.benchmark, found.item_id, found.method, found.field) == ("gsm8k", item, method, field), label
        assert found.score >= (0.5 if method == "ngram" else 0.85), label


def test_swapped_names_need_the_masked_index_and_lower_case_the_cased_one(decontaminator, gsm8k_rows):
    """Each index alone misses one of the two: masking capitalized words is what finds swapped names, and the
    second look with them as they are (a near miss only) is what finds a copy in lower case."""
    for text in NAMES_SWAPPED.values():
        cased = decontaminator.cased.best(text)
        assert cased is None or cased.coverage < 0.2
    lower = _question(gsm8k_rows, "gsm8k-test-0007")["question"].lower()
    assert decontaminator.questions.best(lower).coverage < 0.5


def test_rephrasings_really_escape_the_ngram_stage(decontaminator):
    """The embedding stage is needed for these: by n-grams alone they are clean."""
    for text in REPHRASED.values():
        match = decontaminator.questions.best(text)
        assert match is None or match.coverage < 0.5


def test_other_gsm8k_problems_are_clean(decontaminator, gsm8k_rows):
    held_out = [r["question"] for r in gsm8k_rows[50:]] + [r["answer"] for r in gsm8k_rows[50:]]
    assert [f for f in decontaminator.check_many(held_out) if f is not None] == []


def test_a_long_text_quoting_one_phrase_is_clean(decontaminator, gsm8k_rows):
    item = _question(gsm8k_rows, "gsm8k-test-0000")["question"].lower()
    assert QUOTED_PHRASE.replace("$", "") in item.replace("$", "")  # the quote is really from item 0
    assert decontaminator.check(LONG_TEXT_QUOTING_A_PHRASE) is None
    assert 0 < decontaminator.questions.best(LONG_TEXT_QUOTING_A_PHRASE).coverage < 0.5


def test_empty_and_missing_texts_are_clean(decontaminator):
    assert decontaminator.check_many([None, "", "   "]) == [None, None, None]


def test_without_number_masking_changed_numbers_need_the_embedding_stage(benchmark_items):
    from foundry.quality.decontaminate import Decontaminator

    plain = Decontaminator(benchmark_items, mask_numbers=False)
    assert plain.check(NUMBERS_CHANGED["gsm8k-test-0011"]) is None


def test_humaneval_prompt_in_a_completion_is_caught():
    from foundry.quality.benchmarks import load_benchmark
    from foundry.quality.decontaminate import Decontaminator

    items = load_benchmark("humaneval", str(DATA / "humaneval-sample.jsonl"), "prompt")
    rows = [json.loads(line) for line in (DATA / "humaneval-sample.jsonl").read_text().splitlines()]
    gate = Decontaminator(items)
    leaked = "Here is my implementation:\n```python\n" + rows[3]["prompt"] + rows[3]["canonical_solution"] + "```"
    found = gate.check(leaked)
    assert (found.benchmark, found.item_id, found.method) == ("humaneval", "HumanEval/3", "ngram")
    clean = "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a + b\n"
    assert gate.check(clean) is None


@pytest.mark.parametrize("threshold", [0.3, 0.9])
def test_the_ngram_threshold_is_the_least_coverage(benchmark_items, threshold):
    from foundry.quality.decontaminate import Decontaminator

    gate = Decontaminator(benchmark_items, threshold=threshold)
    swapped = REPHRASED["gsm8k-test-0012"]  # covers about 30 % of item 12's 8-grams
    found = gate.check(swapped)
    assert (found is not None) == (threshold == 0.3)


def test_a_lower_cosine_counts_when_the_item_also_shares_ngrams(benchmark_items, embedder):
    """Item 12 reordered with a name swapped keeps ~30 % of its 8-grams; item 0's rewording keeps none. With the
    lone-embedding threshold out of reach (0.99), only the first is flagged, by the combined rule."""
    from foundry.quality.decontaminate import Decontaminator

    gate = Decontaminator(benchmark_items, embedder=embedder, embedding_threshold=0.99, supported_threshold=0.75,
                          support_coverage=0.1, reworded_threshold=0.99)
    found = gate.check(REPHRASED["gsm8k-test-0012"])
    assert (found.item_id, found.method) == ("gsm8k-test-0012", "ngram+embedding")
    assert "with shared n-grams" in found.reason()
    assert gate.check(REPHRASED["gsm8k-test-0000"]) is None


def test_a_rewording_that_keeps_the_items_phrases_counts_at_a_lower_cosine(benchmark_items, embedder):
    """Item 6's rewording keeps about two thirds of its words in shared 3-grams (numbers and names masked), item 9's
    a sixth; the long text quotes one phrase of item 0. With the other two rules out of reach, only item 6 is
    flagged, and only by the kept-words rule (it goes when that rule's cosine is out of reach too)."""
    from foundry.quality.decontaminate import Decontaminator

    def gate(reworded_threshold):
        return Decontaminator(benchmark_items, embedder=embedder, embedding_threshold=0.99, supported_threshold=0.99,
                              reworded_threshold=reworded_threshold, reworded_closeness=1.35)

    found = gate(0.6).check(REPHRASED["gsm8k-test-0006"])
    assert (found.item_id, found.method) == ("gsm8k-test-0006", "ngram+embedding")
    assert gate(0.6).check_many([REPHRASED["gsm8k-test-0009"], LONG_TEXT_QUOTING_A_PHRASE]) == [None, None]
    assert gate(0.99).check(REPHRASED["gsm8k-test-0006"]) is None
