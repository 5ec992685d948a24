"""Difficulty-aware sampling: per-task budgets from a Beta posterior over the task's pass rate."""

from __future__ import annotations

from typing import Any

from foundry.config.sampling import SamplingPolicyConfig
from foundry.sampling.policy import AdaptiveBudget, FixedBudget, SamplingPolicy, TaskBudget
from foundry.sampling.posterior import INTERVAL, BetaPosterior
from foundry.sampling.table import TASK_FIELD_DOCS, TASKS_SCHEMA


def make_policy(campaign: Any, *, model: str | None = None,
                verifiers: list[dict[str, str]] | None = None) -> SamplingPolicy:
    """The campaign's policy (`sampling_policy`, `fixed` when unset); `model` defaults to `engine.model`."""
    return SamplingPolicy(campaign.sampling_policy or SamplingPolicyConfig(), n=campaign.sampling.n,
                          samples_per_task=campaign.samples_per_task,
                          stop_after_accepted=campaign.stop_after_accepted,
                          model=model if model is not None else campaign.engine.model, verifiers=verifiers)


__all__ = ["INTERVAL", "TASKS_SCHEMA", "TASK_FIELD_DOCS", "AdaptiveBudget", "BetaPosterior", "FixedBudget",
           "SamplingPolicy", "TaskBudget", "make_policy"]
