"""Cheap rule verifiers: regex, length (with truncation), required sections; every rejection says why."""

from __future__ import annotations

import pytest

from foundry.config import LengthVerifierConfig, RegexVerifierConfig, SectionsVerifierConfig
from foundry.types import Sample
from foundry.verifiers.base import Verifier
from foundry.verifiers.rules import LengthVerifier, RegexVerifier, SectionsVerifier


def sample(**fields) -> Sample:
    return Sample(id="s", task_id="t", sample_index=0, **fields)


def check(verifier, s: Sample, passed: bool) -> str:
    verdict = verifier.verify(s)
    assert verdict.passed is passed
    assert verdict.verifier == verifier.name
    assert verdict.score == (1.0 if passed else 0.0)
    if not passed:
        assert verdict.reason.strip(), "a rejection always says why"
    return verdict.reason


@pytest.mark.parametrize("verifier", [
    RegexVerifier(RegexVerifierConfig(pattern="x")), LengthVerifier(LengthVerifierConfig()),
    SectionsVerifier(SectionsVerifierConfig()),
])
def test_rule_verifiers_satisfy_the_verifier_protocol(verifier):
    assert isinstance(verifier, Verifier)
    assert verifier.version


# --- regex ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("config", "fields", "passed"),
    [
        ({"pattern": r"\\boxed\{"}, {"completion": "so \\boxed{4}"}, True),
        ({"pattern": r"\\boxed\{"}, {"completion": "so 4"}, False),
        ({"pattern": "^<think>.*</think>"}, {"completion": "<think>a\nb</think>c"}, True),  # DOTALL: . spans lines
        ({"pattern": "I cannot", "must_match": False}, {"completion": "Sure: 4"}, True),
        ({"pattern": "I cannot", "must_match": False}, {"completion": "I cannot help"}, False),
        ({"pattern": "^[0-9]+$", "field": "final_answer"}, {"completion": "x", "final_answer": "42"}, True),
        ({"pattern": "^[0-9]+$", "field": "final_answer"}, {"completion": "42", "final_answer": "x"}, False),
        ({"pattern": ".", "field": "reasoning"}, {"completion": "no reasoning"}, False),  # None counts as ""
        ({"pattern": "forbidden", "field": "answer", "must_match": False}, {"answer": None}, True),
    ],
)
def test_regex_verifier(config, fields, passed):
    check(RegexVerifier(RegexVerifierConfig(**config)), sample(**fields), passed)


def test_regex_rejection_names_the_field_and_the_pattern():
    reason = check(RegexVerifier(RegexVerifierConfig(pattern="[0-9]+", field="answer")), sample(answer="none"), False)
    assert reason == "answer does not match /[0-9]+/"
    forbidden = RegexVerifier(RegexVerifierConfig(name="no-refusal", pattern="sorry", must_match=False))
    assert check(forbidden, sample(completion="sorry"), False) == "completion matches forbidden /sorry/"
    assert forbidden.verify(sample(completion="sorry")).verifier == "no-refusal"


# --- length -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("config", "tokens", "finish_reason", "passed", "reason"),
    [
        ({}, 10, "stop", True, ""),
        ({}, 512, "length", False, "truncated at 512 tokens (finish_reason=length)"),
        ({"reject_truncated": False}, 512, "length", True, ""),
        ({"min_tokens": 5}, 4, "stop", False, "4 tokens < min 5"),
        ({"min_tokens": 5}, 5, "stop", True, ""),
        ({"max_tokens": 100}, 100, "stop", True, ""),
        ({"max_tokens": 100}, 101, "stop", False, "101 tokens > max 100"),
        ({"max_tokens": 100}, 101, "length", False, "truncated at 101 tokens (finish_reason=length)"),
        ({}, 0, None, True, ""),
    ],
)
def test_length_verifier(config, tokens, finish_reason, passed, reason):
    verdict_reason = check(LengthVerifier(LengthVerifierConfig(**config)),
                           sample(completion_tokens=tokens, finish_reason=finish_reason), passed)
    assert verdict_reason == reason


# --- sections ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("config", "fields", "passed", "reason"),
    [
        ({}, {"reasoning": "r", "final_answer": "4"}, True, ""),
        ({}, {"reasoning": None, "final_answer": "4"}, False, "no reasoning block"),
        ({}, {"reasoning": "  \n", "final_answer": "4"}, False, "no reasoning block"),
        ({}, {"reasoning": "r", "final_answer": None}, False, "no final answer found"),
        ({}, {"reasoning": "r", "final_answer": " "}, False, "no final answer found"),
        ({"require_reasoning": False}, {"final_answer": "4"}, True, ""),
        ({"require_answer": False}, {"reasoning": "r"}, True, ""),
        ({"require_reasoning": False, "require_answer": False}, {}, True, ""),
    ],
)
def test_sections_verifier(config, fields, passed, reason):
    assert check(SectionsVerifier(SectionsVerifierConfig(**config)), sample(**fields), passed) == reason
