"""Queues: near misses first, a deterministic audit draw, adjudication of disagreements, the reviewed split."""

from __future__ import annotations

from foundry.config import AcceptanceConfig
from foundry.review.events import Event
from foundry.review.queues import audited, build_queue, disagreement_items, reviewed_rows
from foundry.types import Sample, Verdict


def sample(sid: str, accepted: bool, *scores: tuple[bool, float]) -> Sample:
    verdicts = [Verdict(verifier=f"v{i}", passed=p, score=s, reason="" if p else "no") for i, (p, s) in enumerate(scores)]
    return Sample(id=sid, task_id=sid, sample_index=0, verdicts=verdicts, accepted=accepted)


def test_rejected_queue_puts_disagreeing_and_close_samples_first():
    samples = [
        sample("far", False, (False, 0.0), (False, 0.0)),
        sample("mixed", False, (True, 1.0), (False, 0.0)),
        sample("close", False, (False, 0.6), (False, 0.6)),
        sample("ok", True, (True, 1.0), (True, 1.0)),
    ]
    weighted = AcceptanceConfig(mode="weighted", threshold=0.7)
    order = [item[1] for item in build_queue(samples, "rejected", weighted)]
    assert order == ["mixed", "close", "far"]  # accepted samples are not in the rejected queue
    assert [i[0] for i in build_queue(samples, "rejected", weighted)][0] == "rejected/mixed"


def test_audit_draw_is_deterministic_and_near_its_fraction():
    ids = [f"s{i}" for i in range(4000)]
    drawn = [i for i in ids if audited(i, 0.1)]
    assert drawn == [i for i in ids if audited(i, 0.1)]
    assert 320 < len(drawn) < 480  # 10 % of 4000 = 400, binomial sd ≈ 19
    samples = [sample(i, True) for i in ids[:200]] + [sample("rej", False)]
    queue = build_queue(samples, "accepted-audit")
    assert {item[1] for item in queue} == {i for i in ids[:200] if audited(i, 0.1)}


def test_all_queue_holds_every_sample():
    samples = [sample("a", True), sample("b", False)]
    assert sorted(item[1] for item in build_queue(samples, "all")) == ["a", "b"]


def event(seq, item, reviewer, kind, **payload):
    return Event(seq, f"k{seq}", item, item.split("/", 1)[1], reviewer, kind, payload, float(seq))


def test_disagreements_become_adjudication_items_and_undo_counts():
    events = [
        event(1, "all/x", "ann", "accept"), event(2, "all/x", "bob", "reject", reason="other"),
        event(3, "all/y", "ann", "accept"), event(4, "all/y", "bob", "accept"),
        event(5, "all/z", "ann", "accept"), event(6, "all/z", "bob", "correct", corrected_id="c1"),
        event(7, "all/z", "bob", "undo", undoes=6),
    ]
    assert [item[1] for item in disagreement_items(events)] == ["x"]  # z's disagreement was undone


def test_reviewed_split_majority_adjudication_and_ties():
    samples = {s: sample(s, s != "t") for s in ("x", "y", "t")}
    events = [
        event(1, "all/x", "ann", "accept"), event(2, "all/x", "bob", "reject", reason="other"),
        event(3, "disagreement/x", "cy", "reject", reason="wrong-answer"),
        event(4, "all/y", "ann", "correct", corrected_id="c9"), event(5, "all/y", "bob", "reject", reason="format"),
        event(6, "all/y", "cy", "accept"),
        event(7, "all/t", "ann", "accept"), event(8, "all/t", "bob", "reject", reason="other"),
    ]
    rows = {r["sample_id"]: r for r in reviewed_rows(samples, events)}
    assert rows["x"]["human"] == "reject" and rows["x"]["adjudicated"] and rows["x"]["reviews"] == 2
    assert rows["y"]["human"] == "reject" and rows["y"]["corrections"] == ["c9"]
    assert rows["t"]["human"] == "disputed" and rows["t"]["verifier_accepted"] is False
    assert reviewed_rows(samples, list(reversed(events))) != [] and rows == {
        r["sample_id"]: r for r in reviewed_rows(samples, events)}
