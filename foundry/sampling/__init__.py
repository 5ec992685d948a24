"""Sampling policies: how many samples each task gets, and when it stops (placeholder until the yield stage lands:
`kind: fixed` only)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

TASKS_SCHEMA = pa.schema([
    ("task_id", pa.string()), ("samples", pa.int32()), ("accepted", pa.int32()), ("stop_reason", pa.string()),
    ("model", pa.string()),
])


class FixedBudget:
    """Today's rule: `sampling.n` per request, until `stop_after_accepted` passed or the budget is spent."""

    def __init__(self, task_id: str, n: int, budget: int, wanted: int | None):
        self.task_id, self.n, self.budget, self.wanted = task_id, n, budget, wanted
        self.samples = self.accepted = 0
        self.stop_reason: str | None = None

    def next_n(self) -> int:
        if self.wanted and self.accepted >= self.wanted:
            self.stop_reason = "accepted"
        elif self.samples >= self.budget:
            self.stop_reason = "budget"
        return 0 if self.stop_reason else min(self.n, self.budget - self.samples)

    def record(self, accepted: list[bool]) -> None:
        self.samples += len(accepted)
        self.accepted += sum(accepted)

    def row(self, model: str | None = None, verifiers: Any = None) -> dict[str, Any]:
        return {"task_id": self.task_id, "samples": self.samples, "accepted": self.accepted,
                "stop_reason": self.stop_reason, "model": model}


class FixedPolicy:
    prefers = False

    def __init__(self, campaign: Any):
        self.n, self.budget = campaign.sampling.n, campaign.samples_per_task
        self.wanted = campaign.stop_after_accepted

    def start(self, task: Any) -> FixedBudget:
        return FixedBudget(task.id, self.n, self.budget, self.wanted)

    def priority(self, budget: FixedBudget) -> float:
        return 0.0


def make_policy(campaign: Any) -> FixedPolicy:
    return FixedPolicy(campaign)
