"""Completion text → reasoning and final answer: pure functions that never raise on model output."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundry.generators.parsing import extract_answer, last_boxed, split_reasoning

# Text built from the pieces the parsers look for, mixed with arbitrary unicode, so examples hit the edge cases.
FRAGMENTS = ["\\boxed{", "\\boxed", "{", "}", "<think>", "</think>", "answer is ", "Answer: ", "42", " ", "\n",
             "\\frac{1}{2}"]
# No per-example deadline: a loaded CI machine must not turn a slow example into a failure.
quick = settings(max_examples=100, deadline=None)
model_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40).map("".join)


def balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


# --- split_reasoning --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think> add them </think> The answer is 4.", ("add them", "The answer is 4.")),
        ("add them</think>\n\\boxed{4}", ("add them", "\\boxed{4}")),  # the template put <think> in the prompt
        ("<think>unfinished because max_tokens", (None, "<think>unfinished because max_tokens")),
        ("no tags at all", (None, "no tags at all")),
        ("<think></think>4", ("", "4")),
        ("<think>a</think>b</think>c", ("a", "b</think>c")),  # the first closing tag ends the block
        ("</think>x<think>y</think>", ("", "x<think>y</think>")),
        ("", (None, "")),
    ],
)
def test_split_reasoning(text, expected):
    assert split_reasoning(text) == expected


def test_split_reasoning_with_other_tags():
    tags = ("<reasoning>", "</reasoning>")
    assert split_reasoning("<reasoning>r</reasoning>a", tags) == ("r", "a")
    assert split_reasoning("<think>r</think>a", tags) == (None, "<think>r</think>a")


@given(model_text)
@quick
def test_split_reasoning_never_raises_and_keeps_the_text(text):
    reasoning, rest = split_reasoning(text)
    if "</think>" not in text:
        assert (reasoning, rest) == (None, text)
    else:
        assert reasoning is not None and reasoning in text and rest in text


# --- last_boxed -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{42}.", "42"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\sqrt{\\frac{a}{b}} + {c}}", "\\sqrt{\\frac{a}{b}} + {c}"),
        ("first \\boxed{1}, then \\boxed{2}", "2"),
        ("\\boxed{1} and an unclosed \\boxed{2", "1"),  # an unbalanced last box falls back to the one before
        ("\\boxed{ 7 }", "7"),
        ("\\boxed{}", ""),
        ("no box here", None),
        ("\\boxed{never closed", None),
        ("\\boxed 5", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@given(model_text)
@quick
def test_last_boxed_never_raises_and_returns_balanced_text(text):
    found = last_boxed(text)
    if "\\boxed{" not in text:
        assert found is None
    if found is not None:
        assert found in text and balanced(found)


@given(st.text(alphabet="0123456789+-x=abc\\ {}", max_size=30).filter(balanced))
@quick
def test_last_boxed_returns_any_balanced_content(content):
    assert last_boxed(f"reasoning... \\boxed{{{content}}} done") == content.strip()


# --- extract_answer ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "patterns", "expected"),
    [
        ("\\boxed{3} ... so \\boxed{4}", ["boxed"], "4"),
        ("The answer is 5. Wait, the answer is 7.", [r"answer is (\d+)"], "7"),  # last match wins
        ("Answer: 12\nAnswer: 13\n", [r"^Answer: (.+)$"], "13"),  # MULTILINE: ^ and $ are lines
        ("final 9", [r"\d+"], "9"),  # no group: the whole match
        ("The answer is 5 and \\boxed{6}", ["boxed", r"answer is (\d+)"], "6"),  # first pattern that finds one
        ("The answer is 5", ["boxed", r"answer is (\d+)"], "5"),
        ("\\boxed{} but the answer is 8", ["boxed", r"answer is (\d+)"], "8"),  # an empty box is no answer
        ("nothing", ["boxed", r"answer is (\d+)"], None),
        ("anything", [], None),
        ("Answer:    \n", [r"Answer:(.*)$"], None),  # only whitespace is no answer
    ],
)
def test_extract_answer(text, patterns, expected):
    assert extract_answer(text, patterns) == expected


@given(model_text)
@quick
def test_extract_answer_never_raises(text):
    found = extract_answer(text, ["boxed", r"answer is (\S+)", r"Answer:\s*(.+)$"])
    assert found is None or (found == found.strip() and found)


def test_extract_answer_with_an_optional_group_that_did_not_match():
    assert extract_answer("Answer: I am not sure", [r"Answer:\s*(\d+)?"]) is None
    assert extract_answer("Answer: unsure. \\boxed{7}", [r"Answer:\s*(\d+)?", "boxed"]) == "7"


def test_regex_patterns_are_applied_as_written():
    assert extract_answer("THE ANSWER IS 5", [r"answer is (\d+)"]) is None  # case-sensitive unless (?i)
    assert extract_answer("THE ANSWER IS 5", [r"(?i)answer is (\d+)"]) == "5"
