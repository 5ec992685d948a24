"""The server commits reviews into the output's shards on its own: every --compact-every seconds while it serves,
and once more when it stops, so nothing reviewed waits for someone to run --compact."""

from __future__ import annotations

import io
import time

import httpx
import pyarrow.parquet as pq
from review.helpers import review_server


def reviews_in_shards(out) -> list[dict]:
    return [r for f in sorted((out / "data").glob("reviews-*.parquet"))
            for r in pq.read_table(io.BytesIO(f.read_bytes())).to_pylist()]


def test_reviews_reach_the_shards_while_serving_and_at_shutdown(campaign_output):
    out, _ = campaign_output
    with review_server(out, "--queue", "all", "--compact-every", "1") as (url, _process):
        base, token = url.split("#token=")
        headers = {"x-review-token": token, "x-reviewer": "ann"}
        item = httpx.get(f"{base}api/next", headers=headers, timeout=30).json()["item"]
        httpx.post(f"{base}api/submit", headers=headers, timeout=30,
                   json={"key": "ann-key-0001", "item_id": item["item_id"], "kind": "accept"})
        deadline = time.monotonic() + 30
        while not reviews_in_shards(out):
            assert time.monotonic() < deadline, "the server never compacted"
            time.sleep(0.2)
        assert [(r["seq"], r["kind"], r["sample_id"]) for r in reviews_in_shards(out)] == [
            (1, "accept", item["sample_id"])]
        second = httpx.get(f"{base}api/next", headers=headers, timeout=30).json()["item"]
        httpx.post(f"{base}api/submit", headers=headers, timeout=30, json={
            "key": "ann-key-0002", "item_id": second["item_id"], "kind": "reject", "reason": "format"})
        # leaving the block stops the server (SIGTERM) at once: less than a round after the second review
    events = reviews_in_shards(out)
    assert [(r["seq"], r["kind"]) for r in events] == [(1, "accept"), (2, "reject")]  # each once
