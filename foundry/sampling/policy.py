"""Sampling policies: how many samples a task gets next, and when it is done, from its own verdicts so far.

The executor asks `budget.next_n()` before each request and calls `budget.record(verdicts)` after verification;
`policy.priority(budget)` orders tasks waiting for a request. Everything here is plain, synchronous and picklable.
"""

from __future__ import annotations

from typing import Any

from foundry.config.sampling import SamplingPolicyConfig
from foundry.sampling.posterior import BetaPosterior

ACCEPTED, BUDGET, HOPELESS, EASY, NO_OUTPUT = "accepted", "budget", "hopeless", "easy", "no_output"


class SamplingPolicy:
    """Per-campaign settings; `start(task)` gives a task its own fresh `TaskBudget`."""

    def __init__(self, config: SamplingPolicyConfig, *, n: int, samples_per_task: int,
                 stop_after_accepted: int | None = None, model: str | None = None,
                 verifiers: list[dict[str, str]] | None = None):
        """`n`: samples per request after the pilot (`sampling.n`); `model` / `verifiers` ({name, version}) go
        into every task row (set them later, or pass them to `row()`, when they are known only at run time)."""
        self.config = config
        self.n = n
        self.samples_per_task = samples_per_task
        self.stop_after_accepted = stop_after_accepted
        self.model = model
        self.verifiers = verifiers
        self.prior = BetaPosterior(config.prior.alpha, config.prior.beta)

    @property
    def kind(self) -> str:
        return self.config.kind

    def start(self, task: Any) -> TaskBudget:
        """`task`: a Task (its `id` is used) or a task id."""
        budget = AdaptiveBudget if self.kind == "adaptive" else FixedBudget
        return budget(self, getattr(task, "id", task))

    def priority(self, budget: TaskBudget) -> float:
        """Higher first. `prefer: informative`: p(1-p) at the posterior mean, the variance of the task's verdicts
        (largest at p = 1/2, where a GRPO group carries most signal); `none`: all equal, so arrival order holds."""
        if self.config.prefer != "informative":
            return 0.0
        p = budget.posterior.mean
        return p * (1.0 - p)


class TaskBudget:
    """One task's sampling state: counts, its posterior, and why it stopped."""

    def __init__(self, policy: SamplingPolicy, task_id: str):
        self.policy = policy
        self.task_id = task_id
        self.samples = 0
        self.accepted = 0
        self.rounds = 0
        self.stop_reason: str | None = None
        """Set once `next_n()` returned 0."""

    @property
    def posterior(self) -> BetaPosterior:
        return self.policy.prior.update(self.accepted, self.samples - self.accepted)

    @property
    def remaining(self) -> int:
        return self.policy.samples_per_task - self.samples

    def next_n(self) -> int:
        """Samples to ask for in the next request; 0 means the task is done (and `stop_reason` says why).
        Asking again without a `record` in between gives the same answer."""
        if self.stop_reason is None:
            self.stop_reason = self._stop()
        return 0 if self.stop_reason is not None else self._size()

    def record(self, accepted: list[bool]) -> None:
        """The verdicts of the last request's samples. A request that returned no samples ends the task
        (`no_output`) instead of asking the engine the same thing forever."""
        self.rounds += 1
        self.samples += len(accepted)
        self.accepted += sum(bool(a) for a in accepted)
        if not accepted:
            self.stop_reason = NO_OUTPUT

    def _stop(self) -> str | None:
        wanted = self.policy.stop_after_accepted
        if wanted is not None and self.accepted >= wanted:
            return ACCEPTED
        if self.remaining <= 0:
            return BUDGET
        return None

    def _size(self) -> int:
        return min(self.policy.n, self.remaining)

    def row(self, model: str | None = None, verifiers: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """The task's row of `TASKS_SCHEMA`; `model` / `verifiers` override the policy's."""
        posterior = self.posterior
        lo, hi = posterior.interval()
        return {
            "task_id": self.task_id, "policy": self.policy.kind, "samples": self.samples, "accepted": self.accepted,
            "rounds": self.rounds, "posterior_alpha": posterior.alpha, "posterior_beta": posterior.beta,
            "pass_rate": posterior.mean, "pass_rate_lo": lo, "pass_rate_hi": hi, "stop_reason": self.stop_reason,
            "model": model if model is not None else self.policy.model,
            "verifiers": [{"name": v.get("name"), "version": None if v.get("version") is None else str(v["version"])}
                          for v in (verifiers if verifiers is not None else self.policy.verifiers) or []],
        }


class FixedBudget(TaskBudget):
    """Today's budget: `n` per request up to `samples_per_task`, until `stop_after_accepted`."""


class AdaptiveBudget(TaskBudget):
    """A pilot request first; after it, the Beta stop rules are checked before every further request."""

    def _stop(self) -> str | None:
        reason = super()._stop()
        config = self.policy.config
        if reason is not None or self.samples < config.pilot:
            return reason
        posterior = self.posterior
        if config.stop_hopeless_below is not None and \
                posterior.prob_at_least(config.stop_hopeless_below) < config.confidence:
            return HOPELESS
        if config.stop_easy_above is not None and posterior.prob_at_most(config.stop_easy_above) < config.confidence:
            return EASY
        return None

    def _size(self) -> int:
        pilot_left = self.policy.config.pilot - self.samples
        return min(pilot_left if pilot_left > 0 else self.policy.n, self.remaining)
