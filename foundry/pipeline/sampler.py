"""The sampler step: one task, sampled round by round until its budget says stop.

Ray-free: `generate` and `verify` are callables the executor provides (with its retries and its replicas), so
a unit test drives a task with plain async functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from foundry.types import GenerationRequest, GenerationResult, Sample, Task, Verdict, sample_id

Generate = Callable[[GenerationRequest], Awaitable[GenerationResult]]
Verify = Callable[[list[Sample]], Awaitable[list[tuple[list[Verdict], bool, bytes | None]]]]
"""Per sample: its verdicts, whether it is accepted, and its dedup fingerprint (None unless a screen made one)."""


@dataclass
class TaskOutcome:
    """A finished task: every sample it drew (verdicts attached) and the budget that decided when to stop."""

    task: Task
    samples: list[Sample]
    budget: Any


class TaskSampler:
    """Request → samples → verdicts → stamped samples, repeated while the task's budget asks for more."""

    def __init__(self, campaign: str, generator: Any, sampling: dict[str, Any],
                 stamp: Callable[[str | None], dict[str, Any]]):
        self.campaign = campaign
        self.generator = generator
        self.sampling = sampling
        self.stamp = stamp
        """Row provenance for a result of the given replica (model, config hash, versions, time)."""

    async def run(self, task: Task, budget: Any, generate: Generate, verify: Verify) -> TaskOutcome:
        samples: list[Sample] = []
        while (n := budget.next_n()) > 0:
            request_id = f"{task.id}-{len(samples)}-{uuid.uuid4().hex[:8]}"
            result = await generate(self.generator.request(task, request_id, {**self.sampling, "n": n}))
            batch = [self.generator.sample(task, result, completion,
                                           sample_id(self.campaign, task.id, len(samples) + i), len(samples) + i)
                     for i, completion in enumerate(result.completions)]
            verdicts = await verify(batch)
            stamp = self.stamp(result.replica)
            batch = [s.model_copy(update={"verdicts": v, "accepted": ok, "provenance": stamp, "fingerprint": print_})
                     for s, (v, ok, print_) in zip(batch, verdicts, strict=True)]
            budget.record([s.accepted for s in batch])
            samples += batch
        return TaskOutcome(task, samples, budget)
