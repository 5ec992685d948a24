"""Compaction into data/reviews-* and data/corrected-* through the journal, exactly once."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq

from foundry.review.compact import compact
from foundry.review.events import EventLog
from foundry.review.output import open_output
from foundry.review.server import ReviewService


def work(service: ReviewService, reviewer: str, actions: list[dict]) -> list[dict]:
    results = []
    for n, action in enumerate(actions):
        item = service.next_item(reviewer)
        results.append(service.submit(reviewer, {"key": f"{reviewer}-key-{n:04d}", "item_id": item["item_id"],
                                                 **action}))
    return results


def data_files(out):
    return sorted(p.name for p in (out / "data").iterdir())


def table(out, name):
    return pq.read_table(io.BytesIO((out / "data" / name).read_bytes())).to_pylist()


def test_compaction_commits_each_event_once(campaign_output, tmp_path):
    out, samples = campaign_output
    output = open_output(str(out))
    log = EventLog(tmp_path / "reviews.sqlite")
    service = ReviewService(output, log, "rejected", 1)
    results = work(service, "ann", [
        {"kind": "accept"},
        {"kind": "reject", "reason": "wrong-answer", "step_ratings": {"0": "good", "2": "bad"}, "first_wrong_step": 2},
        {"kind": "correct", "answer": "So the answer is \\boxed{0}."},
    ])
    before = data_files(out)
    first = compact(output, log)
    assert first["events"] == 3 and first["corrected"] == 1
    added = sorted(set(data_files(out)) - set(before))
    assert added == ["corrected-00002.parquet", "reviews-00002.parquet"]
    snapshot = {name: (out / "data" / name).read_bytes() for name in data_files(out)}

    assert compact(output, log) == {"events": 0, "corrected": 0, "through": 3}  # again: nothing new
    assert {name: (out / "data" / name).read_bytes() for name in data_files(out)} == snapshot

    reviews = table(out, "reviews-00002.parquet")
    assert [(r["seq"], r["kind"], r["reviewer"], r["reason"]) for r in reviews] == [
        (1, "accept", "ann", None), (2, "reject", "ann", "wrong-answer"), (3, "correct", "ann", None)]
    assert json.loads(reviews[1]["payload"])["step_ratings"] == {"0": "good", "2": "bad"}
    corrected = table(out, "corrected-00002.parquet")
    assert len(corrected) == 1 and corrected[0]["id"] == results[2]["corrected_id"]
    parent = samples[corrected[0]["parent_id"]]
    assert corrected[0]["task_id"] == parent.task_id and corrected[0]["reviewer"] == "ann"
    # Every task asks for number + 1 >= 1, so the corrected answer 0 is wrong: math rejects, reasoning kept.
    assert corrected[0]["reasoning"] == parent.reasoning
    assert [(v["verifier"], v["passed"]) for v in corrected[0]["verdicts"]] == [("sections", True), ("math", False)]
    assert corrected[0]["accepted"] is False

    # New events later: only those are committed, in the next commit.
    work(service, "bob", [{"kind": "skip"}])
    log.undo("bob-undo-0001", "bob")
    second = compact(output, log)
    assert second["events"] == 2 and second["corrected"] == 0
    assert [r["seq"] for r in table(out, "reviews-00003.parquet")] == [4, 5]
    records = [json.loads(p.read_text()) for p in sorted((out / "_foundry" / "commits").glob("*.json"))]
    assert [r.get("review_events") for r in records[-2:]] == [{"first": 1, "last": 3}, {"first": 4, "last": 5}]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["name"] == "review-test"  # the campaign's own fields survive the rewrite
    assert manifest["accepted"] == 10 and manifest["rejected"] == 10


def test_compaction_from_a_second_log_object_sees_the_same_commits(campaign_output, tmp_path):
    """Two compactors (the CLI and a server) on one output: the second finds the first's record and adds nothing."""
    out, _ = campaign_output
    path = tmp_path / "reviews.sqlite"
    service = ReviewService(open_output(str(out)), EventLog(path), "all", 1)
    work(service, "ann", [{"kind": "accept"}] * 4)
    assert compact(open_output(str(out)), EventLog(path))["events"] == 4
    assert compact(open_output(str(out)), EventLog(path))["events"] == 0
    assert len([n for n in data_files(out) if n.startswith("reviews-")]) == 1


def test_a_journal_without_prepare_still_commits_once(campaign_output, tmp_path, monkeypatch):
    """With only `Journal.commit`, the range compacted is read back from the reviews shards themselves."""
    import foundry.review.compact as compaction

    monkeypatch.setattr(compaction, "RANGED_RECORDS", False)
    out, _ = campaign_output
    path = tmp_path / "reviews.sqlite"
    service = ReviewService(open_output(str(out)), EventLog(path), "all", 1)
    work(service, "ann", [{"kind": "accept"}] * 3)
    assert compact(open_output(str(out)), EventLog(path))["events"] == 3
    assert compact(open_output(str(out)), EventLog(path))["events"] == 0
    work(service, "bob", [{"kind": "accept"}])
    assert compact(open_output(str(out)), EventLog(path))["through"] == 4
    assert [r["seq"] for name in data_files(out) if name.startswith("reviews-") for r in table(out, name)] == [1, 2, 3, 4]
