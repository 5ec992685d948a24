"""Compaction: review events and corrected samples become `data/reviews-*` and `data/corrected-*` shards.

Through the same exactly-once journal as the campaign's samples. Each commit record names the range of event
sequence numbers it holds (`review_events`), so a compaction repeated, interrupted or racing another one never
commits an event twice: it starts after the last number any commit record holds, and a lost race for a commit
number (CommitConflict) is retried from the records as they are then.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from foundry.review.events import Event, EventLog
from foundry.review.output import CORRECTED_SCHEMA, ReviewOutput
from foundry.storage.manifest import CommitConflict, Journal
from foundry.storage.shards import parquet_bytes

REVIEWS_SCHEMA = pa.schema([
    ("seq", pa.int64()),
    ("key", pa.string()),
    ("item_id", pa.string()),
    ("queue", pa.string()),
    ("sample_id", pa.string()),
    ("reviewer", pa.string()),
    ("kind", pa.string()),
    ("reason", pa.string()),
    ("corrected_id", pa.string()),
    ("payload", pa.string()),
    ("created_at", pa.float64()),
])
"""One row per review event, undo events included (an undo's payload names the `seq` it voids)."""
RANGED_RECORDS = hasattr(Journal, "prepare")
"""The journal lets a commit record carry the event range (`prepare`/`apply`); else shards are read back."""
_MANIFEST_SUMMARY = {"format", "updated_at", "tasks_completed", "samples", "commits", "shards", "counts"}


def compacted_through(store, commits: list[dict[str, Any]]) -> int:
    """The highest event sequence number any commit record holds (0 when none). A record written by a journal
    without `prepare` names no range: its reviews shard's own `seq` column says."""
    through = 0
    for record in commits:
        if "review_events" in record:
            through = max(through, record["review_events"]["last"])
            continue
        for shard in record["shards"]:
            if shard["split"] == "reviews":
                seqs = pq.read_table(io.BytesIO(store.get(shard["path"]) or b""), columns=["seq"]).column(0)
                through = max(through, max(seqs.to_pylist(), default=0))
    return through


def event_row(event: Event) -> dict[str, Any]:
    payload = {k: v for k, v in event.payload.items() if k != "corrected"}
    return {"seq": event.seq, "key": event.key, "item_id": event.item_id, "queue": event.item_id.split("/", 1)[0],
            "sample_id": event.sample_id, "reviewer": event.reviewer, "kind": event.kind,
            "reason": payload.get("reason"), "corrected_id": payload.get("corrected_id"),
            "payload": json.dumps(payload, sort_keys=True), "created_at": event.created_at}


def compact(output: ReviewOutput, log: EventLog, attempts: int = 3) -> dict[str, Any]:
    """Commit every event not yet compacted; returns what this call committed."""
    for attempt in range(attempts):
        journal = Journal(output.store)
        journal.recover()
        through = compacted_through(output.store, journal.commits)
        events = log.events(after=through)
        if not events:
            return {"events": 0, "corrected": 0, "through": through}
        corrected, ids = [], []
        for event in events:
            row = event.payload.get("corrected")
            if event.kind == "correct" and row and row["id"] not in journal.committed_ids and row["id"] not in ids:
                corrected.append(row)
                ids.append(row["id"])
        shards = {"reviews": parquet_bytes([event_row(e) for e in events], REVIEWS_SCHEMA)}
        counts = {"reviews": len(events)}
        if corrected:
            shards["corrected"] = parquet_bytes(corrected, CORRECTED_SCHEMA)
            counts["corrected"] = len(corrected)
        try:
            if RANGED_RECORDS:
                record = journal.prepare(shards, [], ids, counts)
                record["review_events"] = {"first": events[0].seq, "last": events[-1].seq}
                journal.apply(record, shards)
            else:
                journal.commit(shards, [], ids, counts)
                record = journal.commits[-1]
        except CommitConflict:
            if attempt == attempts - 1:
                raise
            continue  # another compaction (or a campaign) took the number: start again from the records
        _rewrite_manifest(output, journal)
        return {"events": len(events), "corrected": len(corrected), "through": events[-1].seq,
                "commit": record["seq"]}
    raise AssertionError("unreachable")


def _rewrite_manifest(output: ReviewOutput, journal: Journal) -> None:
    """The manifest's summary from the records, the campaign's own fields (config, runs, ...) kept as they were."""
    from foundry.storage.manifest import read_manifest

    previous = read_manifest(output.store) or {}
    if not isinstance(previous, dict):  # a typed manifest model
        previous = previous.model_dump(mode="json")
    extra = {k: v for k, v in previous.items() if k not in _MANIFEST_SUMMARY and k not in journal.summary()}
    journal.write_manifest(extra)


class Compactor:
    """The server's own compaction: every `every` seconds in a background thread (0: never), and once more at
    close, so reviews reach the output's shards without anyone running `--compact`. A failed round (the store
    unreachable, say) is logged and tried again next round; the events stay safe in the log meanwhile."""

    def __init__(self, output: ReviewOutput, log: EventLog, every: float):
        self.output, self.log, self.every = output, log, every
        self.rounds: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="review-compaction", daemon=True)
        if every > 0:
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.run_once()

    def run_once(self) -> None:
        try:
            result = compact(self.output, self.log)
        except Exception as exc:
            logging.getLogger("foundry").warning("review compaction failed (tried again later): %s: %s",
                                                 type(exc).__name__, exc)
            return
        if result["events"]:
            self.rounds.append(result)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.run_once()
