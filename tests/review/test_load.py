"""The server under load and under kill -9, over HTTP on loopback against the real `foundry review` process.

- 20 reviewers, 2,000 items, N = 2, leases of 1 s, two reviewers walk away holding a lease: no item gets more than
  N reviews, nobody reviews an item twice, the abandoned items come back once their leases expire, nothing is lost.
- kill -9 at random moments during 1,000 submissions: every acknowledged review is in the log after restart, and
  none twice (retries reuse their idempotency key).
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from review.helpers import build_output, free_port, review_server

pytestmark = pytest.mark.e2e


def client(url: str, name: str) -> httpx.Client:
    base, token = url.split("/#token=")
    return httpx.Client(base_url=base, headers={"X-Review-Token": token, "X-Reviewer": name}, timeout=30)


def test_twenty_reviewers_two_thousand_items(tmp_path: Path):
    out = tmp_path / "out"
    build_output(out, tasks=2000, verify=False)
    db = tmp_path / "reviews.sqlite"
    acked: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    with review_server(out, "--queue", "all", "--reviewers", "2", "--lease-seconds", "1", "--db", str(db)) as (url, _):
        def abandon(name: str) -> None:  # takes a lease and is never heard of again
            assert client(url, name).get("/api/next").json()["item"] is not None

        def work(name: str) -> None:
            http, step, deadline = client(url, name), 0, time.time() + 240
            while time.time() < deadline:
                data = http.get("/api/next").json()
                if data["item"] is None:
                    if data["counts"]["reviews_done"] >= data["counts"]["reviews_needed"]:
                        return
                    time.sleep(0.3)  # what is left is leased to someone else: wait for expiry
                    continue
                key = f"{name}-{step:05d}"
                step += 1
                response = http.post("/api/submit", json={"key": key, "item_id": data["item"]["item_id"],
                                                          "kind": "accept"})
                with lock:
                    (acked if response.status_code == 200 else failures).append(key if response.status_code == 200
                                                                                else response.text)
            failures.append(f"{name}: out of time")

        for name in ("gone-1", "gone-2"):
            abandon(name)
        threads = [threading.Thread(target=work, args=(f"r{i:02d}",)) for i in range(20)]
        started = time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.time() - started
    # Refusals (a lease expired between next and submit, under load) are fine; lost or extra reviews are not.
    assert all("lease" in f for f in failures), failures[:3]
    events = sqlite3.connect(db).execute("SELECT key, item_id, reviewer FROM events").fetchall()
    per_item: dict[str, int] = {}
    for _, item, _ in events:
        per_item[item] = per_item.get(item, 0) + 1
    assert len(per_item) == 2000 and set(per_item.values()) == {2}
    assert len({(item, reviewer) for _, item, reviewer in events}) == 4000
    assert sorted(key for key, _, _ in events) == sorted(acked)  # every acknowledgement stored, nothing else
    assert not {reviewer for _, _, reviewer in events} & {"gone-1", "gone-2"}
    print(f"\n4000 reviews by 20 reviewers in {seconds:.1f} s ({4000 / seconds:.0f} reviews/s)")


def test_kill_nine_during_submissions(tmp_path: Path):
    out = tmp_path / "out"
    build_output(out, tasks=1000, verify=False)
    db, port = tmp_path / "reviews.sqlite", free_port()
    rng = random.Random(7)
    acked: set[str] = set()
    kills, submitted = 0, 0
    key = None
    while submitted < 1000 and kills < 40:
        with review_server(out, "--queue", "all", "--db", str(db), port=port) as (url, process):
            http = client(url, "ann")
            kill_at = time.time() + rng.uniform(0.2, 1.5)
            try:
                while submitted < 1000:
                    if time.time() >= kill_at:
                        process.send_signal(signal.SIGKILL)  # at a random moment: maybe mid-request
                    if key is None:
                        item = http.get("/api/next").json()["item"]
                        key = {"key": f"ann-{submitted:05d}-k", "item_id": item["item_id"], "kind": "accept"}
                    response = http.post("/api/submit", json=key)
                    assert response.status_code == 200, response.text
                    acked.add(key["key"])
                    key, submitted = None, submitted + 1
            except httpx.TransportError:
                process.wait()
                kills += 1  # the same key is retried after the restart
    assert submitted == 1000 and kills >= 3
    keys = [row[0] for row in sqlite3.connect(db).execute("SELECT key FROM events")]
    assert len(keys) == len(set(keys)) == 1000 and set(keys) == acked
