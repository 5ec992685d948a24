"""Parquet shards of samples in Hugging Face layout, written exactly once.

`ShardWriter` buffers whole tasks (all samples of a task land in the same commit), rolls shards by rows and bytes,
and commits through `manifest.Journal`: a shard is staged, then a commit record makes it part of the dataset. A
crash before the commit record leaves only staging debris that the next run removes.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from foundry.idset import IdSet
from foundry.storage.manifest import Journal
from foundry.storage.uri import ObjectStore
from foundry.types import Sample

_FUNCTION = pa.struct([("name", pa.string()), ("arguments", pa.string())])
_TOOL_CALL = pa.struct([("id", pa.string()), ("type", pa.string()), ("function", _FUNCTION)])
MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("tool_calls", pa.list_(_TOOL_CALL)),
        ("tool_call_id", pa.string()),
        ("name", pa.string()),
    ]
)
VERDICT = pa.struct(
    [
        ("verifier", pa.string()),
        ("passed", pa.bool_()),
        ("score", pa.float64()),
        ("reason", pa.string()),
        ("seconds", pa.float64()),
    ]
)
PROVENANCE = pa.struct(
    [
        ("campaign", pa.string()),
        ("model", pa.string()),
        ("config_hash", pa.string()),
        ("engine_args", pa.string()),
        ("sampling_params", pa.string()),
        ("verifiers", pa.list_(pa.struct([("name", pa.string()), ("version", pa.string())]))),
        ("versions", pa.string()),
        ("replica", pa.string()),
        ("created_at", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("task_id", pa.string()),
        ("sample_index", pa.int32()),
        ("prompt", pa.string()),
        ("messages", pa.list_(MESSAGE)),
        ("completion", pa.string()),
        ("reasoning", pa.string()),
        ("answer", pa.string()),
        ("final_answer", pa.string()),
        ("answer_source", pa.string()),
        ("reference", pa.string()),
        ("tests", pa.string()),
        ("verdicts", pa.list_(VERDICT)),
        ("accepted", pa.bool_()),
        ("prompt_tokens", pa.int32()),
        ("completion_tokens", pa.int32()),
        ("finish_reason", pa.string()),
        ("generation_seconds", pa.float64()),
        ("trace", pa.string()),
        ("provenance", PROVENANCE),
        ("fingerprint", pa.binary()),
    ]
)
_JSON_FIELDS = ("tests", "trace")
# Field names as plain tuples: iterating a pyarrow schema builds a Field object per step, per row.
_COLUMNS = tuple(SCHEMA.names)
_PROVENANCE_NAMES = tuple(field.name for field in PROVENANCE)
_JSON_PROVENANCE = ("engine_args", "sampling_params", "versions")


def _message(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls")
    if calls:
        calls = [
            {
                "id": c.get("id"),
                "type": c.get("type", "function"),
                "function": {
                    "name": c["function"]["name"],
                    "arguments": c["function"]["arguments"]
                    if isinstance(c["function"].get("arguments"), str)
                    else json.dumps(c["function"].get("arguments")),
                },
            }
            for c in calls
        ]
    content = message.get("content")
    return {
        "role": message.get("role"),
        "content": content if content is None or isinstance(content, str) else json.dumps(content),
        "tool_calls": calls or None,
        "tool_call_id": message.get("tool_call_id"),
        "name": message.get("name"),
    }


def row_provenance(provenance: dict[str, Any]) -> dict[str, Any]:
    """Provenance with its free-form parts already JSON text: encode once per run, not once per row."""
    return {k: json.dumps(v, sort_keys=True) if k in _JSON_PROVENANCE and not isinstance(v, str) else v
            for k, v in provenance.items()}


def sample_row(sample: Sample) -> dict[str, Any]:
    """A sample as a row of `SCHEMA`: nested values as structs, free-form values as JSON text."""
    row = sample.model_dump(mode="json", exclude={"fingerprint"})  # bytes, kept as they are
    row["fingerprint"] = sample.fingerprint
    for name in _JSON_FIELDS:
        row[name] = None if row[name] is None else json.dumps(row[name])
    if row["messages"] is not None:
        row["messages"] = [_message(m) for m in row["messages"]]
    provenance = dict(row.get("provenance") or {})
    for name in _JSON_PROVENANCE:
        if name in provenance and not isinstance(provenance[name], str):
            provenance[name] = json.dumps(provenance[name], sort_keys=True)
    row["provenance"] = {name: provenance.get(name) for name in _PROVENANCE_NAMES}
    return {name: row.get(name) for name in _COLUMNS}


_TEXT_FIELDS = ("prompt", "completion", "reasoning", "answer", "final_answer", "reference", "tests", "trace")


def _row_bytes(row: dict[str, Any]) -> int:
    """About a row's size: its texts, message contents and tool-call arguments (tool-use rows are mostly
    `messages`), plus a fixed 256 for the rest. Counting this way is ~20x cheaper than serializing every row."""
    size = 256
    for name in _TEXT_FIELDS:
        value = row[name]
        if value:
            size += len(value)
    for message in row["messages"] or ():
        size += 32 + len(message["content"] or "")
        for call in message["tool_calls"] or ():
            size += 32 + len(call["function"]["arguments"] or "")
    for verdict in row["verdicts"] or ():
        size += 48 + len(verdict["reason"] or "")
    return size


def parquet_bytes(rows: list[dict[str, Any]], schema: pa.Schema = SCHEMA) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer, compression="zstd")
    return buffer.getvalue()


class ShardWriter:
    """Context manager that commits whole tasks into accepted / rejected parquet shards.

    Commit on a clean close (and whenever a shard fills or `flush_seconds` pass); on an exception the buffered,
    uncommitted tasks are abandoned: they are not marked complete, so `--resume` samples them again.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        max_rows: int = 10_000,
        max_bytes: int = 256 * 2**20,
        flush_seconds: float = 60.0,
        keep_rejected: bool = True,
        manifest_extra: dict[str, Any] | None = None,
        schemas: dict[str, pa.Schema] | None = None,
        partition: str | None = None,
    ):
        """`schemas`: the other splits a task may carry rows for (excluded tasks, per-task tables), by name.
        `partition`: the partition of a partitioned campaign this writer commits for (see `Journal`)."""
        self.journal = Journal(store, partition)
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.flush_seconds = flush_seconds
        self.keep_rejected = keep_rejected
        self.manifest_extra = manifest_extra or {}
        self.schemas = {"accepted": SCHEMA, "rejected": SCHEMA, **(schemas or {})}
        self._rows: dict[str, list[dict[str, Any]]] = {split: [] for split in self.schemas}
        self._tasks: list[str] = []
        self._bytes = 0
        self._last_commit = time.monotonic()
        self._pending: tuple[dict[str, Any], dict[str, bytes]] | None = None

    def __enter__(self) -> ShardWriter:
        self.journal.recover()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()

    @property
    def completed_tasks(self) -> IdSet:
        return self.journal.completed_tasks

    @property
    def committed_ids(self) -> set[str]:
        return self.journal.committed_ids

    def add_task(self, task_id: str, samples: Iterable[Sample], extra: dict[str, list[dict]] | None = None) -> None:
        """Buffer one finished task; commits when a shard is full or it is time to flush."""
        self.buffer(task_id, samples, extra)
        if self.due():
            self.flush()

    def buffer(self, task_id: str, samples: Iterable[Sample], extra: dict[str, list[dict]] | None = None) -> None:
        """Buffer every sample of one finished task, and its rows of other splits, for the next commit."""
        for sample in samples:
            split = "accepted" if sample.accepted else "rejected"
            if split == "rejected" and not self.keep_rejected:
                continue
            row = sample_row(sample)
            self._rows[split].append(row)
            self._bytes += _row_bytes(row)
        for split, rows in (extra or {}).items():
            self._rows[split] += rows
            self._bytes += 256 * len(rows)
        self._tasks.append(task_id)

    def due(self) -> bool:
        """A commit failed part-way, a shard is full, or `flush_seconds` passed since the last commit."""
        if self._pending is not None:
            return True
        if not self._tasks:
            return False
        full = max(len(r) for r in self._rows.values()) >= self.max_rows or self._bytes >= self.max_bytes
        return full or time.monotonic() - self._last_commit >= self.flush_seconds

    def flush(self) -> None:
        """Commit everything buffered as one shard per split and one commit record.

        The record is prepared once: if the store fails part-way, calling `flush` again finishes that same commit
        (tasks buffered meanwhile wait for the next one), so a retried commit can neither double nor conflict."""
        if self._pending is None:
            if not self._tasks:
                return
            shards = {split: parquet_bytes(rows, self.schemas[split]) for split, rows in self._rows.items() if rows}
            ids = [row["id"] for split in ("accepted", "rejected") for row in self._rows[split]]
            counts = {split: len(rows) for split, rows in self._rows.items() if rows or split in ("accepted", "rejected")}
            self._pending = (self.journal.prepare(shards, self._tasks, ids, counts), shards)
            self._rows = {split: [] for split in self.schemas}
            self._tasks, self._bytes = [], 0
        self.journal.apply(*self._pending)
        self._pending = None
        self._last_commit = time.monotonic()

    def close(self) -> None:
        self.flush()
        self.flush()  # what was buffered while a pending commit finished
        self.journal.clean_incomplete()
        self.journal.write_manifest(self.manifest_extra)
