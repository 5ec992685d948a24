"""Verifiers by config `kind`: one explicit map, no registry magic."""

from __future__ import annotations

from typing import Any

from foundry.config import CampaignConfig
from foundry.verifiers.base import Verifier, VerifierChain
from foundry.verifiers.rules import LengthVerifier, RegexVerifier, SectionsVerifier
from foundry.verifiers.trace import TraceVerifier


def _math(config):
    from foundry.verifiers.math import MathVerifier  # imports sympy: only when configured

    return MathVerifier(config)


def _code(config):
    from foundry.verifiers.code import CodeTestVerifier  # starts sandbox processes: only when configured

    return CodeTestVerifier(config)


def _rubric(config, judge=None):
    from foundry.verifiers.rubric import OpenAIJudge, RubricVerifier

    if judge is None:
        if config.judge.kind != "openai":
            raise ValueError(f"verifier {config.name!r}: a {config.judge.kind} judge must be provided by the campaign")
        judge = OpenAIJudge(config.judge)
    return RubricVerifier(config, judge)


BUILDERS = {
    "math": _math,
    "code": _code,
    "regex": RegexVerifier,
    "length": LengthVerifier,
    "sections": SectionsVerifier,
    "trace": TraceVerifier,
    "rubric": _rubric,
}


def build_chain(campaign: CampaignConfig, judges: dict[str, Any] | None = None) -> VerifierChain:
    """The configured verifiers, in config order, with the campaign's acceptance rule.

    `judges` maps a rubric verifier's name to the judge the campaign started for it (replica-backed judges).
    """
    judges = judges or {}
    verifiers: list[Verifier] = [
        BUILDERS[v.kind](v, judges.get(v.name)) if v.kind == "rubric" else BUILDERS[v.kind](v)
        for v in campaign.verifiers
    ]
    return VerifierChain(verifiers, campaign.acceptance)
