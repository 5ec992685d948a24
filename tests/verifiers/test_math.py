"""Math-Verify equivalence: a regression table of (reference, final answer, expected) from real model outputs.

References are as datasets ship them (GSM8K's `#### 1,000`, MATH's LaTeX); answers are what models put in
\\boxed{...}. Read like Math-Verify's own tests/test_all.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from foundry.config import MathVerifierConfig
from foundry.types import Sample
from foundry.verifiers import build_chain
from foundry.verifiers.math import MathVerifier

GSM8K_REFERENCE = (
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
    "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.\n"
    "#### 18"
)


@pytest.fixture(scope="module")
def gsm8k() -> MathVerifier:
    return MathVerifier(MathVerifierConfig())  # default reference_pattern: GSM8K's `#### answer`


@pytest.fixture(scope="module")
def plain() -> MathVerifier:
    return MathVerifier(MathVerifierConfig(reference_pattern=None))


def sample(reference: str | None, final_answer: str | None) -> Sample:
    return Sample(id="s", task_id="t", sample_index=0, reference=reference, final_answer=final_answer)


GSM8K_CASES = [
    # (reference, final answer, expected)
    (GSM8K_REFERENCE, "18", True),
    (GSM8K_REFERENCE, "\\$18", True),
    (GSM8K_REFERENCE, "18.00", True),
    (GSM8K_REFERENCE, "17", False),
    (GSM8K_REFERENCE, "9", False),  # a number from the working, not the answer
    ("#### 1,000", "1000", True),
    ("#### 1,000", "1,000", True),
    ("#### 1,234,567", "1234567", True),
    ("#### 70000", "70,000", True),
    ("#### 70000", "70000.0", True),
    ("#### 70000", "7000", False),
    ("#### 0.5", "\\frac{1}{2}", True),
    ("#### 0.5", "1/2", True),
    ("#### 0.25", "25\\%", True),
    ("#### 0.25", "\\frac14", True),
    ("#### 3", "3.0", True),
    ("#### -5", "-5", True),
    ("#### -5", "5", False),
    ("#### 5\n", "5", True),
    ("####5", "5", True),
    ("#### 7", "\\text{7}", True),
    ("#### 3", "three", False),
    ("#### 3", "x", False),
    ("#### 3", "{{{", False),
    ("#### 3", "\\frac{", False),
]


@pytest.mark.parametrize(("reference", "final_answer", "expected"), GSM8K_CASES)
def test_gsm8k_references(gsm8k, reference, final_answer, expected):
    verdict = gsm8k.verify(sample(reference, final_answer))
    assert verdict.passed is expected, verdict.reason
    assert verdict.score == (1.0 if expected else 0.0)
    if not expected:
        assert verdict.reason


LATEX_CASES = [
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\frac{3}{4}", "0.75", True),
    ("\\frac{1}{3}", "0.333", False),
    ("1/2", "0.5", True),
    ("\\sqrt{2}", "2^{1/2}", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("50\\%", "50", True),
    ("-3", "3", False),
    ("1,000", "1000", True),
    ("\\pi", "3.14159", False),
    ("(1, 2)", "(1,2)", True),
    ("The answer is $\\boxed{5}$.", "5", True),  # a MATH-style solution: its last box is the gold
    ("The answer is $\\boxed{5}$.", "6", False),
]


@pytest.mark.parametrize(("reference", "final_answer", "expected"), LATEX_CASES)
def test_latex_references(plain, reference, final_answer, expected):
    verdict = plain.verify(sample(reference, final_answer))
    assert verdict.passed is expected, verdict.reason


@pytest.mark.parametrize(
    ("reference", "final_answer", "reason"),
    [
        (None, "4", "task has no reference answer"),
        ("", "4", "task has no reference answer"),
        ("#### 4", None, "no final answer found"),
        ("#### 4", "", "no final answer found"),
        ("#### 4", "   ", "no final answer found"),
        ("no answer here #### ", "1", "reference 'no answer here #### ' did not parse"),
        ("#### 18", "17", "answer '17' != reference '18'"),
    ],
)
def test_rejections_say_why(gsm8k, reference, final_answer, reason):
    verdict = gsm8k.verify(sample(reference, final_answer))
    assert verdict.passed is False and verdict.score == 0.0
    assert verdict.reason == reason


def test_gold_takes_the_gsm8k_answer_line_without_thousands_separators(gsm8k):
    assert gsm8k.gold(GSM8K_REFERENCE) == "$18$"
    assert gsm8k.gold("work\n#### 1,000\n") == "$1000$"
    assert gsm8k.gold("no marker") == "$no marker$"
    assert gsm8k.gold("$\\frac{1}{2}$") == "$\\frac{1}{2}$"


def test_version_names_math_verify(gsm8k):
    assert gsm8k.version.startswith("math-verify==")
    assert gsm8k.name == "math"


def test_verifies_outside_the_main_thread(gsm8k):
    # Math-Verify's SIGALRM timeout only works in the main thread; verifier actors call it from others.
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(gsm8k.verify, [sample("#### 1,000", "1000"), sample("#### 3", "4")]))
    assert [v.passed for v in verdicts] == [True, False]


def test_build_chain_maps_the_math_kind(tmp_path):
    from foundry.config import CampaignConfig

    config = CampaignConfig.model_validate({
        "name": "t", "source": {"path": "x.jsonl"}, "output": {"path": str(tmp_path)},
        "verifiers": [{"kind": "sections"}, {"kind": "math", "name": "gsm", "reference_pattern": None}],
    })
    chain = build_chain(config)
    assert [type(v).__name__ for v in chain.verifiers] == ["SectionsVerifier", "MathVerifier"]
    assert [v["name"] for v in chain.versions()] == ["sections", "gsm"]
    verdicts, accepted = chain.run(Sample(id="s", task_id="t", sample_index=0, reasoning="r", final_answer="1/2",
                                          reference="0.5"))
    assert accepted and [v.verifier for v in verdicts] == ["sections", "gsm"]
