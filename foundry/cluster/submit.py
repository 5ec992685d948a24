"""Campaigns as Ray Jobs: package a config into a self-contained working dir, submit it, follow and manage it.

The job's working dir holds the campaign YAML and its local source file, with the source path rewritten to the
copy, so the job runs the same on any node of any cluster. The project itself is NOT shipped: cluster nodes run
the Foundry image (see `Dockerfile`), which has `foundry` and its dependencies installed; `ship_code=True` adds the
local `foundry` package as a `py_modules` entry, for trying unreleased code on a cluster whose image has the same
dependencies. A local output path is written on the node that runs the job's driver (the head node): use an
`s3://` output on a real cluster.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import foundry
from foundry.config import CampaignConfig, load_config
from foundry.storage.layout import partition_label

CONFIG_NAME = "campaign.yaml"
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class JobInputError(Exception):
    """Something the user gave is wrong: no address, an unknown job id, a config that cannot be packaged."""


class ClusterError(Exception):
    """The cluster could not be reached or refused the request."""


def dashboard_address(address: str | None) -> str:
    """The Ray dashboard (Jobs API) address: the option, else `RAY_API_SERVER_ADDRESS` or `RAY_ADDRESS`."""
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS")
    if not address:
        raise JobInputError("no cluster address: pass --address http://HEAD:8265 or set RAY_ADDRESS")
    return address if "://" in address else f"http://{address}"


def connect(address: str | None) -> Any:
    from ray.job_submission import JobSubmissionClient

    url = dashboard_address(address)
    try:
        return JobSubmissionClient(url)
    except Exception as exc:  # ConnectionError, AuthenticationError, RuntimeError (version check)
        raise ClusterError(f"cannot reach the Ray dashboard at {url}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def package(config_path: Path, overrides: list[str] | None, workdir: Path) -> CampaignConfig:
    """Write a self-contained copy of a campaign (config with overrides applied, local source) into `workdir`."""
    campaign = load_config(config_path, overrides)
    workdir.mkdir(parents=True, exist_ok=True)
    data = campaign.model_dump(mode="json", exclude_unset=True)
    source = Path(campaign.source.path)
    if source.exists():  # a hub dataset name stays a name
        target = workdir / "data" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        data["source"]["path"] = f"data/{source.name}"
    (workdir / CONFIG_NAME).write_text(yaml.safe_dump(data, sort_keys=False))
    return campaign


def submit(
    client: Any,
    config_path: Path,
    overrides: list[str] | None = None,
    *,
    resume: bool = False,
    ship_code: bool = False,
    workdir: Path,
    env: dict[str, str] | None = None,
    only: list[int] | None = None,
) -> tuple[list[str], CampaignConfig]:
    """Submit a campaign as Ray Jobs: one, or one per partition when `cluster.partitions` is above 1 (`only`: just
    these partitions, e.g. to resume the one that was lost). Returns the submission ids and the packaged campaign."""
    campaign = package(config_path, overrides, workdir / "campaign")
    partitions = campaign.cluster.partitions
    chosen = sorted(set(only)) if only else list(range(partitions))
    if partitions == 1 and only:
        raise JobInputError("--partition needs cluster.partitions above 1 (set it, or use --partitions K)")
    if any(not 0 <= index < partitions for index in chosen):
        raise JobInputError(f"--partition: expected 0 to {partitions - 1} (cluster.partitions is {partitions})")
    runtime_env: dict[str, Any] = {}
    if ship_code:
        runtime_env["py_modules"] = [str(Path(foundry.__file__).parent)]
    if env:
        runtime_env["env_vars"] = dict(env)
    group = f"foundry-{campaign.name}-{uuid.uuid4().hex[:8]}"
    metadata = {"campaign": campaign.name, "config_hash": campaign.config_hash(),
                "foundry_version": foundry.__version__, "submitted_from": os.uname().nodename}
    # --verbose: a job's log (`foundry jobs logs`) is where its replicas' output belongs
    entrypoint = f"python -m foundry run {CONFIG_NAME} --quiet --verbose" + (" --resume" if resume else "")
    jobs = []
    for index in chosen if partitions > 1 else [None]:
        label = partition_label(index, partitions)
        job_id = group if label is None else f"{group}-{label}"
        extra = {} if label is None else {"campaign_job": group, "partition": label}
        try:
            jobs.append(client.submit_job(
                entrypoint=entrypoint + ("" if index is None else f" --partition {index}"),
                runtime_env=runtime_env | {"working_dir": str(_job_dir(workdir, label))},
                metadata=metadata | extra, submission_id=job_id))
        except Exception as exc:
            raise ClusterError(f"submitting {job_id} failed: {_first_line(exc)}") from None
    return jobs, campaign


def _job_dir(workdir: Path, label: str | None) -> Path:
    """A partition's own copy of the packaged campaign: Ray unpacks jobs with identical working dirs into one place,
    and partition jobs started together then raced over it (one found its directory gone)."""
    if label is None:
        return workdir / "campaign"
    target = workdir / label
    shutil.copytree(workdir / "campaign", target)
    (target / "PARTITION").write_text(label + "\n")
    return target


NO_FOUNDRY = ("the cluster's Python has no foundry package (Ray said: No module named foundry): start the nodes with "
              "the `ray` of the environment foundry is installed in (e.g. .venv/bin/ray start ...), run them in the "
              "Foundry image (docs/cluster.md), or submit with --ship-code if their Python has its dependencies")


def _lines(message: str | None, logs: str = "") -> list[str]:
    text = (message or "").strip()
    if any(marker in f"{text}\n{logs}" for marker in ("No module named foundry", "No module named 'foundry'")):
        return [NO_FOUNDRY]
    return text.splitlines() or [""]


def failure_line(message: str | None, logs: str = "") -> str:
    """Why a job failed, in one line: what to do about a cluster without foundry, else Ray's last line. `logs`:
    the job's own log, for when Ray's message does not carry its tail yet."""
    return _lines(message, logs)[-1]


def status_line(message: str | None, logs: str = "") -> str:
    """Ray's job message in one line (it appends the tail of the logs to a failure), or the no-foundry advice."""
    return _lines(message, logs)[0]


def campaign_jobs(client: Any, job_id: str) -> list[str]:
    """The jobs a campaign id names: the job itself, or every partition job of a partitioned submission."""
    try:
        client.get_job_info(job_id)
        return [job_id]
    except Exception:
        pass
    parts = [j.submission_id for j in list_jobs(client) if (j.metadata or {}).get("campaign_job") == job_id]
    if not parts:
        raise JobInputError(f"no job {job_id!r} on this cluster")
    return sorted(parts)


def overall_status(statuses: list[str]) -> str:
    """One status for a partitioned campaign: running while any partition runs, else the worst ending."""
    for status in ("RUNNING", "PENDING", "FAILED", "STOPPED"):
        if status in statuses:
            return status
    return "SUCCEEDED"


def _call(what: str, job_id: str, function: Callable[[], Any]) -> Any:
    """Turn the SDK's RuntimeErrors into our two kinds: an unknown job (bad input) or a cluster problem."""
    try:
        return function()
    except Exception as exc:
        if "404" in str(exc) or "does not exist" in str(exc):
            raise JobInputError(f"no job {job_id!r} on this cluster") from None
        raise ClusterError(f"{what} {job_id} failed: {_first_line(exc)}") from None


def info(client: Any, job_id: str) -> Any:
    return _call("reading job", job_id, lambda: client.get_job_info(job_id))


def logs(client: Any, job_id: str) -> str:
    return _call("reading logs of", job_id, lambda: client.get_job_logs(job_id))


def stop(client: Any, job_id: str) -> bool:
    return _call("stopping", job_id, lambda: client.stop_job(job_id))


def list_jobs(client: Any) -> list[Any]:
    try:
        jobs = client.list_jobs()
    except Exception as exc:
        raise ClusterError(f"listing jobs failed: {_first_line(exc)}") from None
    return sorted(jobs, key=lambda j: j.start_time or 0)


def follow(client: Any, job_id: str, write: Callable[[str], None]) -> None:
    """Stream a job's logs until it ends (a websocket); falls back to polling when streaming breaks."""
    info(client, job_id)  # an unknown id is a clear error, not a broken stream

    async def stream() -> None:
        async for chunk in client.tail_job_logs(job_id):
            write(chunk)

    try:
        asyncio.run(stream())
    except Exception:
        seen = 0
        while True:
            text = logs(client, job_id)
            write(text[seen:])
            seen = len(text)
            if str(info(client, job_id).status) in TERMINAL:
                write(logs(client, job_id)[seen:])
                return
            time.sleep(2)


def wait(client: Any, job_id: str, poll_seconds: float = 1.0, timeout: float | None = None) -> Any:
    """Block until the job ends; returns its final JobDetails."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        details = info(client, job_id)
        if str(details.status) in TERMINAL:
            return details
        if deadline is not None and time.monotonic() > deadline:
            raise ClusterError(f"job {job_id} still {details.status} after {timeout:.0f}s")
        time.sleep(poll_seconds)
