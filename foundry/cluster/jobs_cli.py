"""`foundry submit` and `foundry jobs`: campaigns as Ray Jobs, one per partition, managed as one campaign.

Registered in `foundry/cli.py` (this module does not import it: no cycle).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from foundry.console import ConfigArg, SetOpt, bad_input, err, failed, load_or_exit, out

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


def _finished(client, job_ids: list[str]) -> None:
    """Wait for the jobs; exit 0 if all succeeded, else one line per failed job with Ray's message, exit 1."""
    from foundry.cluster.submit import failure_line, logs, wait

    failures = []
    for job_id in job_ids:
        details = wait(client, job_id)
        if details.status != "SUCCEEDED":
            failures.append(f"job {job_id} {details.status}: {failure_line(details.message, logs(client, job_id))}")
        else:
            err.print(f"job {job_id} SUCCEEDED")
    if failures:
        failed("; ".join(failures))


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
    partitions: Annotated[int | None, typer.Option(
        help="Split the campaign over K drivers, one Ray Job each (sets cluster.partitions).")] = None,
    partition: Annotated[list[int] | None, typer.Option(
        help="Submit only this partition (repeatable), e.g. with --resume for the one whose driver was lost.")]
    = None,
) -> None:
    """Send a campaign to a Ray cluster as Ray Jobs (one per partition) and print the job ids."""
    import tempfile

    from foundry.cluster.submit import connect, follow
    from foundry.cluster.submit import submit as submit_job

    overrides = [*(set_ or []), *([f"cluster.partitions={partitions}"] if partitions else [])]
    campaign = load_or_exit(config, overrides)
    with _job_errors(), tempfile.TemporaryDirectory(prefix="foundry-job-") as workdir:
        client = connect(address)
        job_ids, _ = submit_job(client, config, overrides, resume=resume, ship_code=ship_code, workdir=Path(workdir),
                                only=partition)
        for job_id in job_ids:
            out.print(job_id)
        err.print(f"submitted campaign {campaign.name} (config {campaign.config_hash()}) as "
                  + (f"job {job_ids[0]}" if len(job_ids) == 1 else f"{len(job_ids)} partition jobs"))
        if wait:
            if not quiet and len(job_ids) == 1:
                follow(client, job_ids[0], lambda text: err.out(text, end="", highlight=False))
            _finished(client, job_ids)


jobs = typer.Typer(no_args_is_help=True, help="Campaigns submitted to a Ray cluster: list, status, logs, stop.")


@jobs.command("list")
def jobs_list(
    address: AddressOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Jobs on the cluster, oldest first, with their campaign; a partitioned campaign is one row (its id names
    all its partition jobs in `jobs status`, `logs` and `stop`)."""
    from rich.table import Table

    from foundry.cluster.submit import connect, list_jobs, overall_status

    with _job_errors():
        found = list_jobs(connect(address))
    rows, groups = [], {}
    for job in found:
        meta = job.metadata or {}
        row = {"id": job.submission_id or job.job_id, "status": str(job.status), "campaign": meta.get("campaign", ""),
               "started": job.start_time, "entrypoint": job.entrypoint}
        if meta.get("campaign_job"):
            if meta["campaign_job"] not in groups:
                groups[meta["campaign_job"]] = {**row, "id": meta["campaign_job"], "partitions": {}}
                rows.append(groups[meta["campaign_job"]])
            groups[meta["campaign_job"]]["partitions"][meta.get("partition", row["id"])] = row["status"]
        else:
            rows.append(row)
    for group in groups.values():
        group["status"] = overall_status(list(group["partitions"].values()))
        group["entrypoint"] = ", ".join(f"{label} {status}" for label, status in sorted(group["partitions"].items()))
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("id", "status", "campaign", "entrypoint / partitions")
    for row in rows:
        table.add_row(row["id"], row["status"], row["campaign"], row["entrypoint"])
    out.print(table)


@jobs.command("status")
def jobs_status(job_id: JobArg, address: AddressOpt = None) -> None:
    """One job's status and Ray's message about it; for a partitioned campaign, each partition's."""
    from foundry.cluster.submit import campaign_jobs, connect, info, logs, status_line

    with _job_errors():
        client = connect(address)
        for part in campaign_jobs(client, job_id):
            details = info(client, part)
            failed_logs = logs(client, part) if str(details.status) == "FAILED" else ""
            out.print(f"{part} {details.status} {status_line(details.message, failed_logs)}", soft_wrap=True)


@jobs.command("logs")
def jobs_logs(
    job_id: JobArg,
    address: AddressOpt = None,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
) -> None:
    """A job's driver output (the campaign's log and its end-of-run report); each partition's, one after another."""
    from foundry.cluster.submit import campaign_jobs, connect, follow, logs

    with _job_errors():
        client = connect(address)
        parts = campaign_jobs(client, job_id)
        for part in parts:
            if len(parts) > 1:
                out.print(f"==> {part} <==")
            if follow_:
                follow(client, part, lambda text: out.out(text, end="", highlight=False))
            else:
                out.out(logs(client, part), end="", highlight=False)


@jobs.command("stop")
def jobs_stop(
    job_id: JobArg,
    address: AddressOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job has stopped.")] = False,
) -> None:
    """Stop a running job (every partition of a partitioned campaign); committed work is safe, continue it with
    `submit --resume`."""
    from foundry.cluster.submit import campaign_jobs, connect, info, stop
    from foundry.cluster.submit import wait as wait_job

    with _job_errors():
        client = connect(address)
        for part in campaign_jobs(client, job_id):
            if not stop(client, part):
                out.print(f"{part} was not running ({info(client, part).status})")
                continue
            out.print(f"{part} {wait_job(client, part).status if wait else 'stopping'}")
