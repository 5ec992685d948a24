"""Final-answer extraction on real-looking outputs: the table's rows are written the way SmolLM2-135M-Instruct and
other small instruct models answer GSM8K-style questions (Math-Verify's own tests use the same table style)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from foundry.config import GeneratorConfig
from foundry.config.generators import ANSWER_EXTRACTORS
from foundry.generators.parsing import BUILT_IN, find_answer
from foundry.generators.samples import read_completion
from foundry.types import Completion

DEFAULTS = GeneratorConfig()

# (completion, expected final_answer, expected answer_source) under the default generator settings.
TABLE = [
    # GSM8K's own convention, which SmolLM2 imitates after its reasoning.
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in "
     "April and May.\n#### 72", "72", "gsm8k_hash"),
    ("Weng earns 12/60 = $0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $10.\n#### 10", "10",
     "gsm8k_hash"),
    ("The total is 1,200 + 300 = 1,500 dollars.\n#### 1,500", "1500", "gsm8k_hash"),
    ("#### 5.", "5", "gsm8k_hash"),
    # "The answer is: N", with and without the colon, markdown, units and a full stop.
    ("To find the total, we add 2 and 3.\n\n2 + 3 = 5\n\nThe answer is: 5", "5", "answer_is"),
    ("Janet has 16 - 3 - 4 = 9 eggs left to sell, so she makes 9 * 2 = 18 dollars.\nThe answer is 18.", "18",
     "answer_is"),
    ("**The answer is: 42 apples.**", "42", "answer_is"),
    ("So the answer is $-7$.", "-7", "answer_is"),
    ("the answer is: $\\frac{3}{4}$", "\\frac{3}{4}", "answer_is"),
    ("The final answer is 10. I hope it is correct.", "10", "answer_is"),
    # "Final Answer: N" (the Minerva / lm-eval convention).
    ("Step 1: 6 * 7 = 42\nFinal Answer: 42", "42", "final_answer"),
    ("Final answer: $1,024$", "1024", "final_answer"),
    # \boxed{} wins over every other convention in the same text.
    ("The answer is 4, i.e. \\boxed{5}.", "5", "boxed"),
    ("#### 3\nThe final answer is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}", "boxed"),
    # No convention: Math-Verify's own extraction takes the last number or expression.
    ("2 + 3 = 5", "5", "math_verify"),
    ("Tom had 8 marbles and gave away 3, so he has 5 marbles left.", "5", "math_verify"),
    ("The area is $\\frac{9}{2}$ square units.", "\\frac{9}{2}", "math_verify"),
    # Nothing answer-like at all.
    ("I'm sorry, I cannot help with that.", None, None),
    ("", None, None),
]


@pytest.mark.parametrize(("text", "final", "source"), TABLE)
def test_default_extraction_on_real_outputs(text, final, source):
    found = read_completion(Completion(text=text, completion_tokens=10, finish_reason="stop"), DEFAULTS)
    assert (found["final_answer"], found["answer_source"]) == (final, source)


def test_a_configured_regex_is_tried_in_order_and_named_by_its_index():
    patterns = ["boxed", r"Result:\s*(\d+)", r"=\s*(\d+)"]
    assert find_answer("3 + 4 = 7. Result: 8", patterns) == ("8", "pattern:1")
    assert find_answer("3 + 4 = 7", patterns) == ("7", "pattern:2")
    assert find_answer("3 + 4 = 7 \\boxed{9}", patterns) == ("9", "boxed")


def test_the_fallback_can_be_turned_off():
    rules = GeneratorConfig(answer_fallback=None)
    found = read_completion(Completion(text="so he has 5 marbles", completion_tokens=5), rules)
    assert (found["final_answer"], found["answer_source"]) == (None, None)


def test_only_boxed_configured_means_boxed_then_the_fallback():
    rules = GeneratorConfig(answer_patterns=["boxed"])
    found = read_completion(Completion(text="We add them.\n#### 5", completion_tokens=5), rules)
    assert (found["final_answer"], found["answer_source"]) == ("5", "math_verify")


def test_a_truncated_completion_gets_no_fallback_answer():
    text = "First, 12 * 4 = 48. Then we subtract 7 from 48 to get"
    cut = read_completion(Completion(text=text, completion_tokens=96, finish_reason="length"), DEFAULTS)
    assert (cut["final_answer"], cut["answer_source"]) == (None, None)
    stated = read_completion(Completion(text=text + " 41.\n#### 41\nThen", completion_tokens=96,
                                        finish_reason="length"), DEFAULTS)
    assert (stated["final_answer"], stated["answer_source"]) == ("41", "gsm8k_hash")


def test_the_fallback_reads_only_after_the_reasoning_block():
    found = read_completion(Completion(text="<think>maybe 3</think>no idea", completion_tokens=9), DEFAULTS)
    assert (found["reasoning"], found["final_answer"]) == ("maybe 3", None)


def test_built_in_names_are_the_ones_the_config_accepts():
    assert set(BUILT_IN) == set(ANSWER_EXTRACTORS) == set(DEFAULTS.answer_patterns)
    GeneratorConfig(answer_patterns=["final_answer", "gsm8k_hash", r"x=(\d+)"])
    with pytest.raises(ValidationError, match="invalid regex"):
        GeneratorConfig(answer_patterns=["answer_is", "(unclosed"])


@pytest.mark.parametrize("text", ["\\boxed{" * 500, "$" * 3000, "The answer is " + "(" * 2000, "#### \x00\ud800"])
def test_hostile_text_never_raises(text):
    read_completion(Completion(text=text, completion_tokens=1), DEFAULTS)
