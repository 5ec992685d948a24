"""The `foundry` command: one console script, subcommands for each job.

Exit status: 0 success, 1 a failed run, 2 bad input (config, arguments, files) with one line per problem.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from foundry.config import CampaignConfig, ConfigError, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

ConfigArg = Annotated[Path, typer.Argument(help="Campaign YAML file.", show_default=False)]
SetOpt = Annotated[list[str], typer.Option("--set", help="Override a field: path.to.field=value (repeatable).")]


def bad_input(problems: list[str]) -> NoReturn:
    for line in problems:
        err.print(f"[red]error:[/red] {line}", soft_wrap=True)
    raise typer.Exit(2)


def failed(message: str) -> NoReturn:
    err.print(f"[red]failed:[/red] {message}", soft_wrap=True)
    raise typer.Exit(1)


def _load(path: Path, overrides: list[str] | None = None) -> CampaignConfig:
    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        bad_input(exc.problems)


@app.command()
def validate(configs: Annotated[list[Path], typer.Argument(help="Campaign YAML files.")]) -> None:
    """Check campaign configs; print one line per problem."""
    problems = []
    for path in configs:
        try:
            load_config(path)
            out.print(f"[green]ok[/green] {path}")
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        bad_input(problems)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a campaign config."""
    out.print_json(json.dumps(CampaignConfig.model_json_schema()))


@app.command()
def run(
    config: ConfigArg,
    set_: SetOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a campaign whose output exists.")] = False,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start Ray locally).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress (for logs).")] = False,
) -> None:
    """Run a campaign: generate, verify, write shards and a manifest."""
    from foundry.campaign import Campaign, OutputExists
    from foundry.cluster.progress import LiveProgress
    from foundry.report import render_report
    from foundry.sources import SourceError

    campaign = _load(config, set_)
    logging.basicConfig(level=logging.WARNING)
    progress = LiveProgress(campaign, quiet=quiet, console=err)
    try:
        with progress:
            manifest = Campaign(campaign, resume=resume, address=address, on_progress=progress.update).run()
    except (OutputExists, SourceError) as exc:
        bad_input([str(exc)])
    except KeyboardInterrupt:
        failed("interrupted; committed work is safe, continue with --resume")
    except Exception as exc:  # a failed run: say which stage, keep the traceback for -v debugging in the log
        logging.getLogger("foundry").debug("run failed", exc_info=True)
        failed(f"{type(exc).__name__}: {exc} (committed work is safe; continue with --resume)")
    out.print(render_report(manifest))


@app.command()
def verify(
    config: ConfigArg,
    input: Annotated[Path, typer.Option("--input", "-i", help="Samples to check (.jsonl or .parquet).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Folder (or s3:// prefix) for verdicts.")],
    set_: SetOpt = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
) -> None:
    """Re-check existing samples with a campaign's verifiers; write verdicts and a summary."""
    from foundry.recheck import recheck
    from foundry.sources import SourceError

    campaign = _load(config, set_)
    try:
        summary = recheck(campaign, input, output, address)
    except SourceError as exc:
        bad_input([str(exc)])
    out.print_json(json.dumps({k: summary[k] for k in ("samples", "accepted", "rejected", "verifiers", "input")}))


@app.command()
def report(
    output: Annotated[str, typer.Argument(help="A campaign's output folder or s3:// prefix.")],
    price_per_gpu_hour: Annotated[float | None, typer.Option(help="Price of one GPU-hour, for money figures.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """What the data cost: wall time, GPU-seconds, tokens, acceptance per verifier, cost per accepted sample."""
    from foundry.report import cost, render_report
    from foundry.storage.manifest import read_manifest
    from foundry.storage.uri import open_store

    try:
        manifest = read_manifest(open_store(output))
    except ValueError as exc:
        bad_input([str(exc)])
    if manifest is None:
        bad_input([f"{output}: no manifest.json (not a campaign output, or no commit yet)"])
    if as_json:
        out.print_json(json.dumps(cost(manifest, price_per_gpu_hour)))
    else:
        out.print(render_report(manifest, price_per_gpu_hour))


@app.command("tiny-model")
def tiny_model(path: Annotated[Path, typer.Argument(help="Folder to write the model to.")]) -> None:
    """Write the tiny random-weight test model (no hub needed) to a folder."""
    from foundry.generators.tiny_model import build_tiny_model

    out.print(str(build_tiny_model(path)))


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
