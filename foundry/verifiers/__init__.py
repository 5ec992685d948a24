"""Verifiers by config `kind`: one explicit map, no registry magic."""

from __future__ import annotations

from foundry.config import CampaignConfig
from foundry.verifiers.base import Verifier, VerifierChain
from foundry.verifiers.rules import LengthVerifier, RegexVerifier, SectionsVerifier


def _math(config):
    from foundry.verifiers.math import MathVerifier  # imports sympy: only when configured

    return MathVerifier(config)


BUILDERS = {
    "math": _math,
    "regex": RegexVerifier,
    "length": LengthVerifier,
    "sections": SectionsVerifier,
}


def build_chain(campaign: CampaignConfig) -> VerifierChain:
    """The configured verifiers, in config order, with the campaign's acceptance rule."""
    verifiers: list[Verifier] = [BUILDERS[v.kind](v) for v in campaign.verifiers]
    return VerifierChain(verifiers, campaign.acceptance)
