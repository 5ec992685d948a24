"""Live progress of a run with rich: tasks done / total with ETA, samples and verdicts per verifier, tokens/s.

Rates and the ETA are measured from the first generation request (else from the first update), so engine start-up
does not drag them down.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from foundry.config import CampaignConfig


class LiveProgress:
    """A context manager that redraws a small table a few times a second; silent with `quiet`."""

    def __init__(self, campaign: CampaignConfig, quiet: bool = False, console: Console | None = None,
                 total: int | None = None):
        """`total`: rows in the source (`sources.count_rows`), else `source.limit`, else unknown."""
        self.campaign = campaign
        self.quiet = quiet
        self.console = console or Console(stderr=True)
        self.total = total if total is not None else campaign.source.limit
        self.live: Live | None = None
        self.started = time.monotonic()
        self._first: tuple[float, int, int] | None = None  # (time, tasks finished, tokens) at the first update
        self._drawn = 0.0

    def __enter__(self) -> LiveProgress:
        if not self.quiet:
            self.live = Live(self._table(None), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            if not self.console.is_terminal:
                self.console.line()  # rich ends its last frame without a newline when writing to a file or pipe

    def update(self, stats: Any) -> None:
        """Redraw at most 8 times a second: a driver finishes thousands of tasks a second, and building the table
        for each cost more than the task. The run's final figures (wall time set) are always drawn."""
        now = time.monotonic()
        if self.live is not None and (stats.wall_seconds or now - self._drawn >= 0.125):
            self._drawn = now
            self.live.update(self._table(stats))

    def _table(self, stats: Any) -> Table:
        table = Table(title=f"campaign {self.campaign.name}", show_header=False, box=None)
        if stats is None:
            table.add_row("starting", "Ray, replicas, engines …")
            return table
        for label, value in self.rows(stats):
            table.add_row(label, value)
        return table

    def rows(self, stats: Any) -> list[tuple[str, str]]:
        """The figures shown, as (label, text) pairs."""
        now = time.monotonic()
        finished = stats.tasks_done + stats.tasks_failed  # this run's work; resumed tasks cost nothing
        if self._first is None:
            self._first = (now, finished, stats.completion_tokens)
        since, finished_then, tokens_then = self._first
        if stats.first_request_at is not None:  # everything this run finished came after it
            since, finished_then, tokens_then = now - max(time.time() - stats.first_request_at, 0.0), 0, 0
        seconds = now - since
        rate = (finished - finished_then) / seconds if seconds > 0 else 0.0
        done = finished + stats.tasks_resumed
        tasks = f"{done:,}" + (f" / {self.total:,}" if self.total else "")
        if stats.tasks_failed:
            tasks += f"  ({stats.tasks_failed} failed)"
        if self.total and rate > 0:
            tasks += f"  ETA {_duration(max(self.total - done, 0) / rate)}"
        rows = [("tasks", tasks),
                ("samples", f"{stats.samples:,}  accepted {stats.accepted:,}  rejected {stats.rejected:,}")]
        for name, counts in stats.verifiers.items():
            rows.append((f"  {name}", f"passed {counts['passed']:,}  failed {counts['failed']:,}"))
        tokens_per_second = (stats.completion_tokens - tokens_then) / seconds if seconds > 0 else 0.0
        rows.append(("tokens/s", f"{tokens_per_second:,.0f}" if seconds > 0 else "-"))
        if stats.replica_restarts:
            rows.append(("replica restarts", str(stats.replica_restarts)))
        rows.append(("elapsed", _duration(now - self.started)))
        return rows


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
