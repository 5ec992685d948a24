"""Reviewer agreement (Krippendorff's alpha) and human-vs-verifier figures against values worked out by hand."""

from __future__ import annotations

import pytest

from foundry.review.agreement import Verified, krippendorff_alpha, review_figures
from foundry.review.events import Event


def test_alpha_of_a_small_table_worked_by_hand():
    # 8 pairable values, accept 5 and reject 3; one unit disagrees (o_AR = o_RA = 1):
    # D_o = 2/8, D_e = 2*5*3/(8*7) = 30/56, alpha = 1 - (2/8)/(30/56) = 8/15
    units = [{"ann": "a", "bob": "a"}, {"ann": "r", "bob": "a"}, {"ann": "a", "bob": "a"}, {"ann": "r", "bob": "r"}]
    assert krippendorff_alpha(units) == pytest.approx(8 / 15, abs=1e-4)
    assert krippendorff_alpha([{"ann": "a", "bob": "r"}, {"ann": "r", "bob": "a"}]) == pytest.approx(-0.5, abs=1e-4)


def test_alpha_is_undefined_without_two_values_or_two_reviews():
    assert krippendorff_alpha([{"ann": "a", "bob": "a"}, {"ann": "a", "cy": "a"}]) is None  # chance agreement is total
    assert krippendorff_alpha([{"ann": "a"}, {"bob": "r"}]) is None  # no unit has two reviews


def event(seq, reviewer, kind, item, **payload):
    return Event(seq, f"k{seq}", item, item.split("/", 1)[1], reviewer, kind, payload, float(seq))


SAMPLES = {
    "a1": Verified({"math": True, "sections": True}, "00001"),
    "a2": Verified({"math": True, "sections": True}, "00001"),
    "r1": Verified({"math": False, "sections": True}, "00002"),
    "r2": Verified({"math": False, "sections": False}, "00002"),
}
EVENTS = [
    event(1, "ann", "accept", "accepted-audit/a1"),
    event(2, "bob", "accept", "accepted-audit/a1"),
    event(3, "ann", "reject", "accepted-audit/a2", reason="wrong-answer"),
    event(4, "bob", "accept", "accepted-audit/a2"),
    event(5, "carol", "reject", "disagreement/a2"),  # the adjudication decides a2: reject
    event(6, "ann", "accept", "rejected/r1"),
    event(7, "bob", "correct", "rejected/r1", corrected_id="c1"),
    event(8, "bob", "undo", "rejected/r1", undoes=7),  # voids the correction
    event(9, "bob", "accept", "rejected/r1"),
    event(10, "ann", "reject", "rejected/r2"),
    event(11, "bob", "reject", "rejected/r2"),
]


def test_review_figures_of_a_known_log():
    figures = review_figures(EVENTS, SAMPLES)
    assert figures["reviews"] == 9 and figures["reviewed_samples"] == 4 and figures["reviewers"] == 3
    assert figures["multiply_reviewed"] == 4
    # ann/bob: a1 (a, a), a2 (r, a), r1 (a, a) after the undo, r2 (r, r): the 8/15 table above
    assert figures["reviewer_alpha"] == pytest.approx(8 / 15, abs=1e-4)
    # commit 1: a1 (a, a), a2 (r, a): D_o = 2/4 = D_e = 2*3*1/(4*3), alpha 0; commit 2 agrees fully
    assert figures["reviewer_alpha_per_batch"] == {"00001": pytest.approx(0.0, abs=1e-4), "00002": 1.0}
    # people: a1 accept, a2 reject (adjudicated), r1 accept, r2 reject
    assert figures["verifiers"]["math"] == {"reviewed": 4, "agreement": 0.5, "passed": 2, "precision": 0.5,
                                            "audited": 2, "audit_precision": 0.5}
    assert figures["verifiers"]["sections"] == {"reviewed": 4, "agreement": 0.75, "passed": 3,
                                                "precision": pytest.approx(2 / 3, abs=1e-4),
                                                "audited": 2, "audit_precision": 0.5}
    assert figures["audited"] == 2 and figures["audit_precision"] == 0.5


def test_a_tie_without_adjudication_counts_for_alpha_but_not_against_verifiers():
    events = [event(1, "ann", "accept", "rejected/r1"), event(2, "bob", "reject", "rejected/r1")]
    figures = review_figures(events, SAMPLES)
    assert figures["reviewer_alpha"] == pytest.approx(0.0, abs=1e-4)  # one unit, a vs r: D_o = D_e = 1
    assert figures["verifiers"] == {} and figures["audited"] == 0 and figures["audit_precision"] is None


def test_report_of_a_reviewed_output(campaign_output, tmp_path):
    """Two reviewers work the whole queue (N = 2) through the real service; compaction commits their events; the
    report reads them back from the shards. bob rejects two accepted samples that ann accepts."""
    import json

    from typer.testing import CliRunner

    from foundry.cli import app
    from foundry.review.compact import compact
    from foundry.review.events import EventLog
    from foundry.review.output import open_output
    from foundry.review.server import ReviewService

    out, samples = campaign_output
    doubted = {sid for sid, s in samples.items() if s.task_id in ("t00", "t02")}
    output = open_output(str(out))
    log = EventLog(tmp_path / "reviews.sqlite")
    service = ReviewService(output, log, "all", 2)
    for reviewer in ("ann", "bob"):
        for n in range(len(samples)):
            item = service.next_item(reviewer)
            sample = samples[item["sample_id"]]
            keep = sample.accepted and not (reviewer == "bob" and sample.id in doubted)
            service.submit(reviewer, {"key": f"{reviewer}-key-{n:04d}", "item_id": item["item_id"],
                                      **({"kind": "accept"} if keep else {"kind": "reject", "reason": "wrong-answer"})})
    assert compact(output, log)["events"] == 40

    result = CliRunner().invoke(app, ["report", str(out), "--json"])
    assert result.exit_code == 0, result.output
    review = json.loads(result.output)["review"]
    assert review["reviews"] == 40 and review["reviewers"] == 2 and review["multiply_reviewed"] == 20
    # 40 values, accept 18 and reject 22, two units split: alpha = 1 - (4/40) / (2*18*22/(40*39))
    assert review["reviewer_alpha"] == pytest.approx(1 - 0.1 / (792 / 1560), abs=1e-4)
    # the two split samples are disputed and left out; on the other 18 people agree with the math verifier
    assert review["verifiers"]["math"] == {"reviewed": 18, "agreement": 1.0, "passed": 8, "precision": 1.0}
    table = CliRunner().invoke(app, ["report", str(out)])
    assert "Krippendorff's alpha 0.803" in table.output and "verifier math vs people" in table.output
