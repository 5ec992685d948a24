"""What every `foundry` subcommand shares: the two consoles, one-line errors with their exit status, config loading.

Exit status: 0 success, 1 a failed run, 2 bad input (config, arguments, files) with one line per problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from foundry.config import CampaignConfig, ConfigError, load_config

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

ConfigArg = Annotated[Path, typer.Argument(help="Campaign YAML file.", show_default=False)]
SetOpt = Annotated[list[str], typer.Option("--set", help="Override a field: path.to.field=value (repeatable).")]


def bad_input(problems: list[str]) -> NoReturn:
    for line in problems:
        err.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True)
    raise typer.Exit(2)


def failed(message: str) -> NoReturn:
    err.print(f"[red]failed:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def load_or_exit(path: Path, overrides: list[str] | None = None) -> CampaignConfig:
    """The config, or exit 2 with one line per problem."""
    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        bad_input(exc.problems)
