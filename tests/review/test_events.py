"""The review log: idempotency keys, leases with an injected clock, N reviews per item under concurrent threads."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from foundry.review.events import EventLog, ReviewError


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def items(n: int, needed: int = 1):
    return [(f"all/s{i}", f"s{i}", "all", float(n - i)) for i in range(n)], needed


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(tmp_path, clock) -> EventLog:
    log = EventLog(tmp_path / "reviews.sqlite", lease_seconds=60, clock=clock)
    log.add_items(*items(3))
    return log


def test_file_is_wal_with_full_sync(log, tmp_path):
    db = log._connect()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_retried_submit_is_stored_once(log, tmp_path):
    lease = log.lease("ann")
    first, dup1 = log.record("key-00000001", lease.item_id, "ann", "accept", {"x": 1})
    again, dup2 = log.record("key-00000001", lease.item_id, "ann", "accept", {"x": 1})
    assert (dup1, dup2) == (False, True) and again.seq == first.seq
    raw = sqlite3.connect(tmp_path / "reviews.sqlite").execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert raw == 1


def test_items_come_by_priority_and_are_leased_to_one_reviewer(log):
    a, b = log.lease("ann"), log.lease("bob")
    assert (a.item_id, b.item_id) == ("all/s0", "all/s1")
    assert log.lease("ann").item_id == "all/s0"  # asking again returns the item already held


def test_no_lease_no_submit(log):
    with pytest.raises(ReviewError, match="no live lease"):
        log.record("key-00000002", "all/s2", "ann", "accept", {})


def test_expired_lease_returns_item_to_the_queue(log, clock):
    assert log.lease("ann").item_id == "all/s0"
    clock.now += 61
    with pytest.raises(ReviewError, match="no live lease"):  # the server refuses a verdict on an expired lease
        log.record("key-00000003", "all/s0", "ann", "accept", {})
    assert log.lease("bob").item_id == "all/s0"  # ann's lease lapsed: bob gets the best item


def test_reviewer_never_gets_an_item_twice_and_n_limit_holds(tmp_path, clock):
    log = EventLog(tmp_path / "r.sqlite", clock=clock)
    log.add_items(*items(1, needed=2))
    for name in ("ann", "bob"):
        lease = log.lease(name)
        log.record(f"key-{name}-0001", lease.item_id, name, "reject", {"reason": "other"})
        assert log.lease(name) is None
    assert log.lease("cy") is None  # two reviews reached
    assert log.counts() == {"items": 1, "reviews_needed": 2, "reviews_done": 2}


def test_undo_voids_last_review_and_gives_the_item_back(log):
    lease = log.lease("ann")
    log.record("key-00000004", lease.item_id, "ann", "accept", {})
    undo, _ = log.undo("key-00000005", "ann")
    assert undo.kind == "undo" and undo.payload == {"undoes": 1}
    assert log.undo("key-00000005", "ann")[1] is True  # the same undo retried is one undo
    assert log.lease("ann").item_id == lease.item_id
    log.record("key-00000006", lease.item_id, "ann", "reject", {"reason": "other"})
    assert [e.kind for e in log.events()] == ["accept", "undo", "reject"]
    assert [e.voided for e in log.events()] == [True, False, False]
    with pytest.raises(ReviewError):
        EventLog(log.path).undo("key-00000007", "nobody")


def test_skip_moves_on_without_counting(log):
    lease = log.lease("ann")
    log.record("key-00000008", lease.item_id, "ann", "skip", {})
    assert log.lease("ann").item_id != lease.item_id
    assert log.lease("bob").item_id == lease.item_id
    assert log.counts()["reviews_done"] == 0


def test_concurrent_reviewers_never_exceed_n(tmp_path):
    """12 threads, each with its own log object (its own connections), race over 30 items needing 2 reviews."""
    path = tmp_path / "race.sqlite"
    EventLog(path).add_items(*items(30, needed=2))
    errors: list[Exception] = []

    def reviewer(name: str) -> None:
        log = EventLog(path)
        try:
            for step in range(100):
                lease = log.lease(name)
                if lease is None:
                    return
                log.record(f"{name}-{step:04d}-key", lease.item_id, name, "accept", {})
        except Exception as exc:  # any refusal here would be a lease handed out beyond the limit
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db = sqlite3.connect(path)
    per_item = dict(db.execute("SELECT item_id, COUNT(*) FROM events GROUP BY item_id").fetchall())
    assert len(per_item) == 30 and set(per_item.values()) == {2}
    pairs = db.execute("SELECT COUNT(*), COUNT(DISTINCT item_id || reviewer) FROM events").fetchone()
    assert pairs == (60, 60)  # nobody reviewed the same item twice
