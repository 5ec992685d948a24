"""Prometheus-format campaign metrics through Ray's metrics API, so Ray's dashboards and scrapers see them.

Ray exports them from every node's metrics agent (`--metrics-export-port`) with a `ray_` prefix, e.g.
`ray_foundry_samples_total{campaign="math",verdict="accepted"}`. The driver records deltas of its `RunStats`
at most once a second, so the hot path pays nothing per task.
"""

from __future__ import annotations

import time
from typing import Any


class CampaignMetrics:
    """Counters of one run: tasks, samples by verdict, verdicts by verifier, generated tokens, replica restarts."""

    def __init__(self, campaign: str, total_tasks: int | None = None, min_interval: float = 1.0):
        self.campaign = campaign
        self.total_tasks = total_tasks
        self.min_interval = min_interval
        self._metrics: dict[str, Any] | None = None
        self._seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._last = 0.0

    def _create(self) -> dict[str, Any]:
        from ray.util.metrics import Counter, Gauge

        keys = ("campaign",)
        made = {
            "tasks": Counter("foundry_tasks", "Tasks finished, by outcome (done, failed).", keys + ("outcome",)),
            "samples": Counter("foundry_samples", "Samples written, by verdict (accepted, rejected).",
                               keys + ("verdict",)),
            "verdicts": Counter("foundry_verdicts", "Verifier verdicts, by verifier and result (passed, failed).",
                                keys + ("verifier", "result")),
            "tokens": Counter("foundry_generated_tokens", "Completion tokens generated.", keys),
            "restarts": Counter("foundry_replica_restarts", "Generator replicas replaced (dead or hung).", keys),
            "total": Gauge("foundry_tasks_planned", "Tasks in the source (when known up front).", keys),
        }
        if self.total_tasks:
            made["total"].set(self.total_tasks, tags={"campaign": self.campaign})
        return made

    def update(self, stats: Any, force: bool = False) -> None:
        """Record what changed since the last call (rate-limited unless `force`, or the run's final update)."""
        now = time.monotonic()
        if not (force or stats.wall_seconds) and now - self._last < self.min_interval:
            return
        self._last = now
        if self._metrics is None:
            self._metrics = self._create()
        self._add("tasks", stats.tasks_done, outcome="done")
        self._add("tasks", stats.tasks_failed, outcome="failed")
        self._add("samples", stats.accepted, verdict="accepted")
        self._add("samples", stats.rejected, verdict="rejected")
        for name, counts in stats.verifiers.items():
            self._add("verdicts", counts["passed"], verifier=name, result="passed")
            self._add("verdicts", counts["failed"], verifier=name, result="failed")
        self._add("tokens", stats.completion_tokens)
        self._add("restarts", stats.replica_restarts)

    def _add(self, metric: str, total: float, **tags: str) -> None:
        tags["campaign"] = self.campaign
        key = (metric, tuple(sorted(tags.items())))
        delta = total - self._seen.get(key, 0)
        if delta > 0:
            self._metrics[metric].inc(delta, tags=tags)
            self._seen[key] = total
