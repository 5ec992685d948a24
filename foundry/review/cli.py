"""`foundry review OUTPUT`: serve the review queue of a campaign output, or `--compact` its review log into shards.

Registered in `foundry/cli.py`; this module does not import it (no cycle), so it prints its own one-line errors.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from foundry.review.queues import QUEUES

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _bad(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def review(
    output: Annotated[str, typer.Argument(help="Campaign output: a folder or s3://bucket/prefix.", show_default=False)],
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    queue: Annotated[str, typer.Option(help="rejected | accepted-audit | disagreement | all.")] = "rejected",
    reviewers: Annotated[int, typer.Option(help="Independent reviews each item needs (N).", min=1)] = 1,
    compact: Annotated[bool, typer.Option("--compact", help="Commit the review log into shards, then exit.")] = False,
    db: Annotated[Path | None, typer.Option(help="Review log file (default: OUTPUT/_foundry/reviews/).")] = None,
    lease_seconds: Annotated[float, typer.Option(help="How long an item stays leased to one reviewer.", min=1)] = 600,
    compact_every: Annotated[float, typer.Option(help="While serving, commit new reviews into shards this often "
                                                      "(seconds; 0: only with --compact and at shutdown).", min=0)]
    = 300,
) -> None:
    """Review samples in a browser: accept, reject, rate steps and correct; corrections become new samples."""
    from foundry.review.events import EventLog
    from foundry.review.output import OutputError, open_output

    if queue not in QUEUES:
        _bad(f"--queue: {queue!r} is not one of {', '.join(QUEUES)}")
    try:
        target = open_output(output)
        path = db if db is not None else target.default_db()
    except OutputError as exc:
        _bad(str(exc))
    except Exception as exc:  # the store itself (S3 credentials, network, a file where a folder should be)
        err.print(f"[red]failed:[/red] {escape(output)}: cannot read it ({type(exc).__name__}: "
                  f"{escape((str(exc).strip().splitlines() or [''])[0])})", soft_wrap=True)
        raise typer.Exit(1) from None
    if compact and not path.exists():
        _bad(f"--db: {path} does not exist (no reviews to compact)")
    log = EventLog(path, lease_seconds=lease_seconds)
    if compact:
        from foundry.review.compact import compact as run_compaction

        result = run_compaction(target, log)
        out.print(f"compacted {result['events']} review event(s) and {result['corrected']} corrected sample(s) "
                  f"(events through #{result['through']})")
        return
    _serve(target, log, queue, reviewers, host, port, compact_every)


def _serve(target, log, queue: str, reviewers: int, host: str, port: int, compact_every: float) -> None:
    import uvicorn

    from foundry.review.compact import Compactor
    from foundry.review.server import ReviewService, create_app

    service = ReviewService(target, log, queue, reviewers)
    compactor = Compactor(target, log, compact_every)
    token = secrets.token_urlsafe(18)
    counts = log.counts()
    # One line with the URL (and its token, in the fragment so it never reaches a server log or a Referer).
    out.print(f"review {escape(target.uri)}: queue {queue}, {counts['items']} item(s), {reviewers} review(s) each",
              soft_wrap=True)
    out.print(f"open http://{host}:{port}/#token={token}", soft_wrap=True)
    def close() -> None:
        compactor.close()  # what was reviewed since the last round is committed before the server goes
        service.corrector.close()

    uvicorn.run(create_app(service, token, close), host=host, port=port, log_level="warning")
