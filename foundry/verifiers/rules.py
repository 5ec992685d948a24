"""Cheap rule verifiers that reject junk before any expensive check runs."""

from __future__ import annotations

import re

from foundry.config import LengthVerifierConfig, RegexVerifierConfig, SectionsVerifierConfig
from foundry.types import Sample, Verdict
from foundry.verifiers.base import accept, reject


class RegexVerifier:
    """Passes when the chosen field matches `pattern` (or, with `must_match: false`, when it does not)."""

    version = "1"

    def __init__(self, config: RegexVerifierConfig):
        self.name = config.name
        self.config = config
        self.pattern = re.compile(config.pattern, flags=re.DOTALL)

    def verify(self, sample: Sample) -> Verdict:
        text = getattr(sample, self.config.field) or ""
        found = self.pattern.search(text) is not None
        if found == self.config.must_match:
            return accept(self)
        verb = "does not match" if self.config.must_match else "matches forbidden"
        return reject(self, f"{self.config.field} {verb} /{self.config.pattern}/")


class LengthVerifier:
    """Bounds on completion tokens; rejects truncated completions by default."""

    version = "1"

    def __init__(self, config: LengthVerifierConfig):
        self.name = config.name
        self.config = config

    def verify(self, sample: Sample) -> Verdict:
        tokens = sample.completion_tokens
        if self.config.reject_truncated and sample.finish_reason == "length":
            return reject(self, f"truncated at {tokens} tokens (finish_reason=length)")
        if tokens < self.config.min_tokens:
            return reject(self, f"{tokens} tokens < min {self.config.min_tokens}")
        if self.config.max_tokens is not None and tokens > self.config.max_tokens:
            return reject(self, f"{tokens} tokens > max {self.config.max_tokens}")
        return accept(self)


class SectionsVerifier:
    """Requires a reasoning block and/or an extracted final answer."""

    version = "1"

    def __init__(self, config: SectionsVerifierConfig):
        self.name = config.name
        self.config = config

    def verify(self, sample: Sample) -> Verdict:
        if self.config.require_reasoning and not (sample.reasoning or "").strip():
            return reject(self, "no reasoning block")
        if self.config.require_answer and not (sample.final_answer or "").strip():
            return reject(self, "no final answer found")
        return accept(self)
