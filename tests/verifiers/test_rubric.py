"""Rubric verifier logic with a fake judge, and the OpenAI-compatible judge client against a local stand-in."""

from __future__ import annotations

import pytest
from fixtures.chat_endpoint import chat_endpoint

from foundry.config import JudgeConfig, RubricVerifierConfig
from foundry.types import Sample
from foundry.verifiers.rubric import OpenAIJudge, RubricVerifier, scores_regex

CONFIG = RubricVerifierConfig(
    criteria=[{"name": "correctness", "description": "right", "weight": 3}, {"name": "clarity", "description": "c"}],
    threshold=0.6,
)


class FakeJudge:
    model = "fake-judge"

    def __init__(self, reply: str):
        self.reply, self.calls = reply, []

    def complete(self, messages, json_schema, regex, max_tokens, temperature):
        self.calls.append((messages, json_schema, regex))
        return self.reply


def sample(text: str = "<think>x</think>The answer is 4.") -> Sample:
    return Sample(id="s", task_id="t", sample_index=0, prompt="What is 2+2?", completion=text)


@pytest.mark.parametrize(
    ("reply", "passed", "score"),
    [
        ('{"correctness": 10, "clarity": 0}', True, 0.75),
        ('{"correctness": 4, "clarity": 10}', False, 0.55),
        ('{"correctness": 99, "clarity": 10}', True, 1.0),  # clamped to the scale
    ],
)
def test_weighted_score_against_threshold(reply, passed, score):
    verdict = RubricVerifier(CONFIG, FakeJudge(reply)).verify(sample())
    assert verdict.passed is passed
    assert verdict.score == pytest.approx(score)
    assert "correctness=" in verdict.reason


@pytest.mark.parametrize("reply", ["", "not json", '{"correctness": 3}', "[1, 2]", '{"correctness": "x", "clarity": 1}'])
def test_unparseable_judge_output_is_a_rejection_with_reason(reply):
    verdict = RubricVerifier(CONFIG, FakeJudge(reply)).verify(sample())
    assert not verdict.passed and verdict.reason.startswith("judge output is not the scores object")


def test_empty_completion_is_rejected_without_calling_the_judge():
    judge = FakeJudge("{}")
    assert not RubricVerifier(CONFIG, judge).verify(sample("  ")).passed
    assert judge.calls == []


def test_prompt_carries_criteria_and_the_regex_matches_valid_scores():
    import re

    judge = FakeJudge('{"correctness": 1, "clarity": 1}')
    verifier = RubricVerifier(CONFIG, judge)
    verifier.verify(sample())
    messages, schema, regex = judge.calls[0]
    assert "correctness (weight 3.0)" in messages[0]["content"] and "What is 2+2?" in messages[1]["content"]
    assert schema["required"] == ["correctness", "clarity"]
    assert re.fullmatch(regex, '{"correctness": 10, "clarity": 0}')
    assert not re.fullmatch(scores_regex(CONFIG), '{"correctness": 11, "clarity": 0}')
    assert verifier.version.startswith("rubric-") and verifier.version.endswith("judge=fake-judge")


def test_openai_judge_sends_schema_and_key_from_env(monkeypatch):
    with chat_endpoint('{"correctness": 8, "clarity": 6}') as (url, requests):
        monkeypatch.setenv("JUDGE_KEY", "sk-secret-123")
        judge = OpenAIJudge(JudgeConfig(kind="openai", base_url=url, model="judge-m", api_key_env="JUDGE_KEY"))
        verdict = RubricVerifier(CONFIG, judge).verify(sample())
    seen = requests[0]
    assert verdict.passed and verdict.score == pytest.approx((3 * 8 + 6) / 4 / 10)
    assert seen["path"] == "/v1/chat/completions" and seen["auth"] == "Bearer sk-secret-123"
    assert seen["body"]["model"] == "judge-m"
    assert seen["body"]["response_format"]["json_schema"]["schema"]["required"] == ["correctness", "clarity"]
    assert "sk-secret" not in verdict.model_dump_json()


def test_openai_judge_config_requires_url_and_model():
    with pytest.raises(ValueError, match="base_url and model"):
        JudgeConfig(kind="openai")
