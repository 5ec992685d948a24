"""Live progress of a run with rich: tasks, samples accepted / rejected per verifier, tokens/s."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from foundry.config import CampaignConfig


class LiveProgress:
    """A context manager that redraws a small table a few times a second; silent with `quiet`."""

    def __init__(self, campaign: CampaignConfig, quiet: bool = False, console: Console | None = None):
        self.campaign = campaign
        self.quiet = quiet
        self.console = console or Console(stderr=True)
        self.total = campaign.source.limit
        self.live: Live | None = None
        self.started = time.monotonic()

    def __enter__(self) -> LiveProgress:
        if not self.quiet:
            self.live = Live(self._table(None), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, stats) -> None:
        if self.live is not None:
            self.live.update(self._table(stats))

    def _table(self, stats) -> Table:
        table = Table(title=f"campaign {self.campaign.name}", show_header=False, box=None)
        if stats is None:
            table.add_row("starting", "Ray, replicas, engines …")
            return table
        elapsed = max(time.monotonic() - self.started, 1e-9)
        done = stats.tasks_done + stats.tasks_resumed
        tasks = f"{done}" + (f" / {self.total}" if self.total else "")
        if self.total and stats.tasks_done:
            eta = (self.total - done) * elapsed / stats.tasks_done
            tasks += f"  (ETA {eta:,.0f}s)"
        table.add_row("tasks", tasks)
        table.add_row("samples", f"{stats.samples}  accepted {stats.accepted}  rejected {stats.rejected}")
        for name, counts in stats.verifiers.items():
            table.add_row(f"  {name}", f"passed {counts['passed']}  failed {counts['failed']}")
        table.add_row("tokens/s", f"{stats.completion_tokens / elapsed:,.0f}")
        return table
