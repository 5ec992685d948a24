"""The typed records of an output: what each run did (`RunRecord`) and what the dataset holds (`Manifest`).

One definition, used by the writer, the executor, `foundry report`, the card and the tests. Both carry a
`schema_version` and are validated on read: a file that does not fit is a `ManifestError` naming it and the field.

A run record lives at `_foundry/runs/<run_id>.json`, written when the run starts and rewritten at each commit, so a
run killed with -9 still leaves its time behind (up to its last update); `manifest.json` copies the records into
`runs` when a run closes. Manifests of `format: foundry/1` (before records existed) are migrated on read.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from foundry.storage.base import ObjectStore
from foundry.storage.layout import RUNS, SAMPLE_SPLITS, SHARD_NAME, run_record_key
from foundry.types import Sample

SCHEMA_VERSION = 2
"""1: the untyped `format: foundry/1` manifest, runs only inside it. 2: typed, with run records beside it."""
STALE_SECONDS = 900.0
"""A run still `running` whose record is older than this is presumed dead (killed, or its host lost)."""

RunStatus = Literal["running", "finished", "failed"]
RunState = Literal["running", "finished", "failed", "killed", "stale"]


class ManifestError(ValueError):
    """A manifest or run record that cannot be read: the message names the file and the field."""


def _new_run_id() -> str:
    """Sorts by start time, unique across hosts."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


class RunRecord(BaseModel):
    """What one run did and what it cost; `RunStats` is the same model (the live figures the executor updates)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    schema_version: int = SCHEMA_VERSION
    run_id: str = Field(default_factory=_new_run_id)
    status: RunStatus = "running"
    """`running` until the run ends; a killed run never gets past it (see `state`)."""
    campaign: str | None = None
    partition: str | None = None
    """The partition this run drove (`p1of2`) in a partitioned campaign; runs of other partitions go on beside it."""
    started_at: float = Field(default_factory=time.time)
    updated_at: float | None = None
    """When the record was last written (`write_run_record` stamps it)."""
    ended_at: float | None = None
    wall_seconds: float = 0.0
    first_request_at: float | None = None
    """When the first generation request went out (engine start-up is before it)."""
    last_write_at: float | None = None
    """When the last task was handed to the writer."""
    tasks_done: int = 0
    tasks_resumed: int = 0
    tasks_failed: int = 0
    tasks_failed_infra: int = 0
    """Tasks left uncommitted because infrastructure stayed broken past its retries (`--resume` samples them)."""
    samples: int = 0
    accepted: int = 0
    rejected: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    replica_seconds: float = 0.0
    gpus_per_replica: float = 0.0
    replicas: int = 0
    replica_restarts: int = 0
    requests_retried: int = 0
    infra_retries: int = 0
    """Retries of infrastructure calls (judge, verifier actor, store) that later succeeded or ran out."""
    tasks_excluded: int = 0
    """Tasks a quality gate kept from the GPU (the excluded split)."""
    decontamination_judge: dict[str, int] = Field(default_factory=dict)
    """The decontamination judge's `calls`, `confirmed` and `unreadable` answers in this run (gray-zone pairs)."""
    store_retries: int = 0
    """Commits retried after a store error (an outage shorter than `output.max_outage_seconds`)."""
    verifiers: dict[str, dict[Literal["passed", "failed"], int]] = Field(default_factory=dict)
    failures: list[str] = Field(default_factory=list)
    source: dict[str, Any] = Field(default_factory=dict)
    """The source report: rows read, tasks, skipped rows by reason."""
    nodes: list[dict[str, Any]] = Field(default_factory=list)
    """Where the replicas and verifier workers ran."""

    @model_validator(mode="before")
    @classmethod
    def _newer(cls, data: Any) -> Any:
        if isinstance(data, dict):
            _check_version(data)
        return data

    def count(self, samples: list[Sample]) -> None:
        """Add finished samples to the totals (one attribute write per field, not per sample)."""
        accepted = tokens = 0
        for sample in samples:
            accepted += sample.accepted
            tokens += sample.completion_tokens
            for verdict in sample.verdicts:
                counts = self.verifiers.setdefault(verdict.verifier, {"passed": 0, "failed": 0})
                counts["passed" if verdict.passed else "failed"] += 1
        self.samples += len(samples)
        self.accepted += accepted
        self.rejected += len(samples) - accepted
        self.completion_tokens += tokens

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def elapsed_seconds(self) -> float:
        """Wall time the run held its replicas: to its end, or, for a run that never recorded one (killed), to its
        last update."""
        if self.status != "running" and self.wall_seconds:
            return self.wall_seconds
        end = self.ended_at or self.updated_at or self.started_at
        return max(self.wall_seconds, end - self.started_at)

    @property
    def gpu_seconds(self) -> float:
        return self.elapsed_seconds * self.replicas * self.gpus_per_replica

    @property
    def held_replica_seconds(self) -> float:
        return self.replica_seconds or self.elapsed_seconds * self.replicas

    def state(self, superseded: bool, now: float | None = None) -> RunState:
        """`status`, or for a run that never ended: `killed` once a later run started, `stale` once its record is
        older than `STALE_SECONDS` (killed, or its host stopped reporting)."""
        if self.status != "running":
            return self.status
        if superseded:
            return "killed"
        last = self.updated_at or self.started_at
        return "stale" if (now or time.time()) - last > STALE_SECONDS else "running"


RunStats = RunRecord


class ShardEntry(BaseModel):
    """One committed shard, as the journal's commit record names it."""

    model_config = ConfigDict(extra="forbid")

    path: str
    split: str
    rows: int
    bytes: int
    commit: int
    partition: str | None = None
    """The partition whose commit it is (`p1of2`), in a partitioned campaign."""

    @model_validator(mode="after")
    def _named_like_a_shard(self) -> ShardEntry:
        match = SHARD_NAME.fullmatch(self.path)
        if match is None or match["split"] != self.split:
            raise ValueError(f"{self.path!r} is not a data/{self.split}-NNNNN.parquet shard")
        return self


class Manifest(BaseModel):
    """The summary of an output, rebuilt from the commit records and the run records whenever a run closes."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    schema_version: int = SCHEMA_VERSION
    campaign: str | None = None
    config_hash: str | None = None
    config: dict[str, Any] | None = None
    """The campaign config dump (credentials are redacted only when published)."""
    provenance: dict[str, Any] | None = None
    runs: list[RunRecord] = Field(default_factory=list)
    """Every run of the campaign, in start order, killed ones included."""
    tasks_completed: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    """Committed rows per split (accepted, rejected, excluded, tasks, corrected, reviews)."""
    commits: int = 0
    shards: list[ShardEntry] = Field(default_factory=list)
    updated_at: float | None = None
    recheck: dict[str, Any] | None = None
    """`foundry verify`'s summary, for an output it wrote."""
    stages: dict[str, Any] = Field(default_factory=dict)
    """Summaries of optional stages (quality gates, sampling policy, review), by stage name."""

    @computed_field
    @property
    def accepted(self) -> int:
        return self.counts.get("accepted", 0)

    @computed_field
    @property
    def rejected(self) -> int:
        return self.counts.get("rejected", 0)

    @computed_field
    @property
    def samples(self) -> int:
        return sum(self.counts.get(split, 0) for split in SAMPLE_SPLITS)

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("format") == "foundry/1" and "schema_version" not in data:
            return _from_foundry_1(data)
        _check_version(data)
        return {k: v for k, v in data.items() if k not in ("accepted", "rejected", "samples")}  # derived

    def json_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), indent=2).encode()


def _check_version(data: dict[str, Any]) -> None:
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise ValueError(f"schema_version {version} is newer than this Foundry reads ({SCHEMA_VERSION}): "
                         "upgrade foundry")


def _from_foundry_1(old: dict[str, Any]) -> dict[str, Any]:
    """A `format: foundry/1` manifest in today's shape: per-split counts, and runs with an id and an end (a run
    only reached a foundry/1 manifest once it had finished)."""
    data = {k: v for k, v in old.items() if k not in ("format", "samples", *SAMPLE_SPLITS)}
    data["schema_version"] = SCHEMA_VERSION
    data["counts"] = {split: old[split] for split in SAMPLE_SPLITS if split in old}
    runs = []
    for number, run in enumerate(old.get("runs") or []):
        if isinstance(run, dict) and "run_id" not in run:
            end = run.get("started_at", 0.0) + run.get("wall_seconds", 0.0)
            run = {"run_id": f"foundry1-{number:03d}", "status": "finished", "ended_at": end, "updated_at": end,
                   **run}
        runs.append(run)
    data["runs"] = runs
    return data


def run_states(runs: list[RunRecord], now: float | None = None) -> list[RunState]:
    """Each run's `state`: a run is superseded once a later run of its partition started (partitions of one
    campaign run side by side)."""
    latest: dict[str | None, float] = {}
    for run in runs:
        latest[run.partition] = max(latest.get(run.partition, 0.0), run.started_at)
    return [run.state(run.started_at < latest[run.partition], now) for run in runs]


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "top level"
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" + (f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else "")


def parse(model: type[BaseModel], data: bytes, where: str) -> Any:
    """`data` as `model`, or a one-line `ManifestError` naming the file (`where`) and the first bad field."""
    try:
        return model.model_validate_json(data)
    except ValidationError as error:
        kind = "not JSON" if any(e["type"] == "json_invalid" for e in error.errors()) else None
        raise ManifestError(f"{where}: {kind or _describe(error)}") from None


def write_run_record(store: ObjectStore, record: RunRecord) -> None:
    """Write `record` to `_foundry/runs/<run_id>.json` (overwritten in place), stamping its `updated_at`.

    Call it at run start, after each commit and at the end; pass a snapshot (`record.model_copy(deep=True)`) when
    another thread keeps updating the live record."""
    record.updated_at = time.time()
    store.put(run_record_key(record.run_id), record.model_dump_json(indent=2).encode())


def read_run_records(store: ObjectStore) -> list[RunRecord]:
    """Every run record of the output, in start order."""
    records = []
    for key in store.list(RUNS):
        if key.endswith(".json"):
            data = store.get(key)
            if data is not None:  # deleted between the listing and the read
                records.append(parse(RunRecord, data, f"{store.uri}/{key}"))
    return sorted(records, key=lambda r: (r.started_at, r.run_id))


def merge_runs(*groups: list[RunRecord]) -> list[RunRecord]:
    """Runs by id, a later group's copy of a run replacing an earlier one's; in start order."""
    by_id: dict[str, RunRecord] = {}
    for group in groups:
        by_id.update((run.run_id, run) for run in group)
    return sorted(by_id.values(), key=lambda r: (r.started_at, r.run_id))
