"""The durable review log: SQLite in WAL mode with full sync, one row per review event, leases and N-per-item limits.

The server acknowledges an event only after its transaction committed (`synchronous=FULL`: on disk, not just in
the OS cache). Every write is one `BEGIN IMMEDIATE` transaction, so two reviewers racing for the last of an item's
N reviews are serialized by SQLite itself: limits and leases live here, never in the client.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERDICT_KINDS = ("accept", "reject", "correct")
"""Events that count as one of an item's N reviews (unless a later `undo` voids them)."""
KINDS = (*VERDICT_KINDS, "skip", "undo")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY, sample_id TEXT NOT NULL, queue TEXT NOT NULL,
    priority REAL NOT NULL, position INTEGER NOT NULL, needed INTEGER NOT NULL,
    reviews INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS items_order ON items (queue, priority DESC, position);
CREATE TABLE IF NOT EXISTS leases (
    item_id TEXT NOT NULL, reviewer TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (item_id, reviewer));
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, item_id TEXT NOT NULL,
    sample_id TEXT NOT NULL, reviewer TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
    created_at REAL NOT NULL, voided INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS events_item ON events (item_id, kind);
CREATE INDEX IF NOT EXISTS events_reviewer ON events (reviewer, seq);
CREATE INDEX IF NOT EXISTS leases_reviewer ON leases (reviewer);
"""


class ReviewError(Exception):
    """A request the log refuses (no lease, limit reached, nothing to undo); the server answers 409 with it."""


@dataclass(frozen=True)
class Event:
    seq: int
    key: str
    item_id: str
    sample_id: str
    reviewer: str
    kind: str
    payload: dict[str, Any]
    created_at: float
    voided: bool = False


@dataclass(frozen=True)
class Lease:
    item_id: str
    sample_id: str
    queue: str
    expires_at: float


class EventLog:
    """One SQLite file; safe to share between threads (a connection per thread) and processes (file locks)."""

    def __init__(self, path: str | Path, *, lease_seconds: float = 600.0, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._local = threading.local()
        with self._write() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One serialized write transaction: taken before any read, so what it reads cannot change under it."""
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- items ---------------------------------------------------------------------------------------------------
    def add_items(self, items: Iterable[tuple[str, str, str, float]], needed: int) -> int:
        """Queue (item_id, sample_id, queue, priority) rows; an item already queued keeps its state. Returns new."""
        with self._write() as db:
            start = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM items").fetchone()[0]
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO items (item_id, sample_id, queue, priority, position, needed) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(i, s, q, p, start + n, needed) for n, (i, s, q, p) in enumerate(items)])
            return db.total_changes - before

    def lease(self, reviewer: str, queue: str | None = None) -> Lease | None:
        """The reviewer's current item, or the best open one: still short of its N reviews counting others' live
        leases, not already reviewed or skipped by this reviewer. None when the queue has nothing left for them."""
        now = self.clock()
        with self._write() as db:
            db.execute("DELETE FROM leases WHERE expires_at <= ?", (now,))
            # With a queue, the items_order index walks items best first and stops at the first open one.
            in_queue, args = ("i.queue = ?", (queue,)) if queue is not None else ("1", ())
            held = db.execute(
                "SELECT i.item_id, i.sample_id, i.queue FROM leases l JOIN items i USING (item_id) "
                f"WHERE l.reviewer = ? AND {in_queue} ORDER BY l.expires_at LIMIT 1", (reviewer, *args)).fetchone()
            row = held or db.execute(
                f"""SELECT i.item_id, i.sample_id, i.queue FROM items i
                   WHERE {in_queue} AND i.reviews < i.needed
                     AND i.reviews + (SELECT COUNT(*) FROM leases l WHERE l.item_id = i.item_id) < i.needed
                     AND NOT EXISTS (SELECT 1 FROM events e WHERE e.item_id = i.item_id AND e.reviewer = ?
                                     AND e.voided = 0 AND e.kind IN ('accept', 'reject', 'correct', 'skip'))
                   ORDER BY i.priority DESC, i.position LIMIT 1""",
                (*args, reviewer)).fetchone()
            if row is None:
                return None
            expires = now + self.lease_seconds
            db.execute("INSERT OR REPLACE INTO leases (item_id, reviewer, expires_at) VALUES (?, ?, ?)",
                       (row[0], reviewer, expires))
            return Lease(row[0], row[1], row[2], expires)

    # -- events --------------------------------------------------------------------------------------------------
    def record(self, key: str, item_id: str, reviewer: str, kind: str, payload: dict[str, Any]) -> tuple[Event, bool]:
        """Store one event of the reviewer's leased item, durably; returns (event, duplicate).

        A key seen before returns the stored event (a retried submit is stored once). A verdict or skip needs the
        reviewer's live lease, and a verdict also a free review slot; both end the lease."""
        if kind not in KINDS or kind == "undo":
            raise ReviewError(f"unknown event kind {kind!r}")
        now = self.clock()
        with self._write() as db:
            existing = self._by_key(db, key)
            if existing is not None:
                return existing, True
            item = db.execute("SELECT sample_id, needed FROM items WHERE item_id = ?", (item_id,)).fetchone()
            if item is None:
                raise ReviewError(f"no item {item_id!r} in the review queue")
            lease = db.execute("SELECT expires_at FROM leases WHERE item_id = ? AND reviewer = ?",
                               (item_id, reviewer)).fetchone()
            if lease is None or lease[0] <= now:
                raise ReviewError(f"{reviewer} holds no live lease on {item_id} (expired or never taken)")
            if kind in VERDICT_KINDS:
                if self._reviews(db, item_id) >= item[1]:
                    raise ReviewError(f"{item_id} already has its {item[1]} review(s)")
                db.execute("UPDATE items SET reviews = reviews + 1 WHERE item_id = ?", (item_id,))
            event = self._insert(db, key, item_id, item[0], reviewer, kind, payload, now)
            db.execute("DELETE FROM leases WHERE item_id = ? AND reviewer = ?", (item_id, reviewer))
            return event, False

    def undo(self, key: str, reviewer: str) -> tuple[Event, bool]:
        """Void the reviewer's last live verdict or skip and lease its item back to them; idempotent by `key`."""
        now = self.clock()
        with self._write() as db:
            existing = self._by_key(db, key)
            if existing is not None:
                return existing, True
            last = db.execute(
                "SELECT seq, item_id, sample_id, kind FROM events WHERE reviewer = ? AND voided = 0 "
                "AND kind IN ('accept', 'reject', 'correct', 'skip') ORDER BY seq DESC LIMIT 1",
                (reviewer,)).fetchone()
            if last is None:
                raise ReviewError(f"{reviewer} has nothing to undo")
            db.execute("UPDATE events SET voided = 1 WHERE seq = ?", (last[0],))
            if last[3] in VERDICT_KINDS:
                db.execute("UPDATE items SET reviews = reviews - 1 WHERE item_id = ?", (last[1],))
            # The undone item is what the reviewer sees next: their other lease goes back to the queue.
            db.execute("DELETE FROM leases WHERE reviewer = ?", (reviewer,))
            event = self._insert(db, key, last[1], last[2], reviewer, "undo", {"undoes": last[0]}, now)
            db.execute("INSERT OR REPLACE INTO leases (item_id, reviewer, expires_at) VALUES (?, ?, ?)",
                       (last[1], reviewer, now + self.lease_seconds))
            return event, False

    @staticmethod
    def _reviews(db: sqlite3.Connection, item_id: str) -> int:
        return db.execute("SELECT COUNT(*) FROM events WHERE item_id = ? AND voided = 0 "
                          "AND kind IN ('accept', 'reject', 'correct')", (item_id,)).fetchone()[0]

    def _insert(self, db, key, item_id, sample_id, reviewer, kind, payload, now) -> Event:
        text = json.dumps(payload, sort_keys=True)
        cursor = db.execute(
            "INSERT INTO events (key, item_id, sample_id, reviewer, kind, payload, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (key, item_id, sample_id, reviewer, kind, text, now))
        return Event(cursor.lastrowid, key, item_id, sample_id, reviewer, kind, json.loads(text), now)

    def _by_key(self, db: sqlite3.Connection, key: str) -> Event | None:
        row = db.execute(f"SELECT {_COLUMNS} FROM events WHERE key = ?", (key,)).fetchone()
        return _event(row) if row else None

    # -- reads ---------------------------------------------------------------------------------------------------
    def get(self, key: str) -> Event | None:
        return self._by_key(self._connect(), key)

    def events(self, after: int = 0) -> list[Event]:
        """Every event with a sequence number above `after`, in order (undo events included)."""
        rows = self._connect().execute(f"SELECT {_COLUMNS} FROM events WHERE seq > ? ORDER BY seq", (after,))
        return [_event(row) for row in rows]

    def item_ids(self) -> set[str]:
        return {row[0] for row in self._connect().execute("SELECT item_id FROM items")}

    def counts(self) -> dict[str, int]:
        db = self._connect()
        items = db.execute("SELECT COUNT(*), COALESCE(SUM(needed), 0) FROM items").fetchone()
        done = db.execute("SELECT COUNT(*) FROM events WHERE voided = 0 "
                          "AND kind IN ('accept', 'reject', 'correct')").fetchone()[0]
        return {"items": items[0], "reviews_needed": items[1], "reviews_done": done}


_COLUMNS = "seq, key, item_id, sample_id, reviewer, kind, payload, created_at, voided"


def _event(row: tuple) -> Event:
    return Event(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7], bool(row[8]))
