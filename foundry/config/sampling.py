"""The `sampling_policy:` block: how many samples each task gets, decided online from its verdicts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from foundry.config.base import Strict

_ADAPTIVE_ONLY = ("pilot", "stop_hopeless_below", "stop_easy_above", "confidence")


class BetaPrior(Strict):
    """Beta(alpha, beta) prior over a task's pass rate, before any of its verdicts."""

    alpha: float = Field(default=1.0, gt=0)
    """Pseudo-count of accepted samples."""
    beta: float = Field(default=1.0, gt=0)
    """Pseudo-count of rejected samples."""


class SamplingPolicyConfig(Strict):
    """`fixed` keeps today's budget (`sampling.n` per request up to `max_samples_per_task`, `stop_after_accepted`);
    `adaptive` spends a pilot first and stops a task early once its pass rate is surely too low (or too high)."""

    kind: Literal["fixed", "adaptive"] = "fixed"
    """`fixed` (the default, today's behaviour) or `adaptive`."""
    pilot: int = Field(default=4, ge=1)
    """Adaptive: samples asked for in a task's first request; stop rules are checked from then on."""
    prior: BetaPrior = Field(default_factory=BetaPrior)
    """Prior of every task's Beta posterior (the task table records the posterior under both kinds)."""
    stop_hopeless_below: float | None = Field(default=0.05, gt=0, lt=1)
    """Adaptive: stop a task once P(pass rate >= this) < `confidence` (`hopeless`); null turns the rule off."""
    stop_easy_above: float | None = Field(default=None, gt=0, lt=1)
    """Adaptive: stop a task once P(pass rate <= this) < `confidence` (`easy`), e.g. to curate RL prompts."""
    confidence: float = Field(default=0.05, gt=0, lt=1)
    """Adaptive: how unlikely the band beyond a stop threshold must be before the rule fires."""
    prefer: Literal["none", "informative"] = "none"
    """`informative`: among tasks waiting for their next request, those with the highest p(1-p) go first."""

    @model_validator(mode="after")
    def _check(self) -> SamplingPolicyConfig:
        if self.kind == "fixed":
            given = [name for name in _ADAPTIVE_ONLY if name in self.model_fields_set]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to kind: adaptive")
        low, high = self.stop_hopeless_below, self.stop_easy_above
        if low is not None and high is not None and high <= low:
            raise ValueError(f"stop_easy_above ({high}) must be above stop_hopeless_below ({low})")
        return self
