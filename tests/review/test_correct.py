"""Corrections: a diff against the parent, re-verified by the campaign's real verifiers, a new linked sample."""

from __future__ import annotations

import hashlib
import json

from foundry.review.correct import Corrector, content_hash
from foundry.review.output import open_output
from foundry.types import Sample


def rejected(samples: dict[str, Sample]) -> Sample:
    return next(s for s in samples.values() if s.task_id == "t01")  # asks 1 + 1, answered 3


def test_fixed_answer_is_accepted_by_the_real_math_verifier(campaign_output):
    out, samples = campaign_output
    parent = rejected(samples)
    assert parent.final_answer == "3" and not parent.accepted
    corrector = Corrector(open_output(str(out)).config)
    row = corrector.correct(parent, parent.reasoning, "So the answer is \\boxed{2}.", "ann", 5.0, "key-1")
    assert row["final_answer"] == "2"
    assert [(v["verifier"], v["passed"]) for v in row["verdicts"]] == [("sections", True), ("math", True)]
    assert row["accepted"] is True
    assert row["parent_id"] == parent.id and row["reviewer"] == "ann" and row["corrected_at"] == 5.0
    body = json.dumps([parent.reasoning, parent.answer, parent.completion, parent.messages], sort_keys=True)
    assert row["parent_hash"] == hashlib.sha256(body.encode()).hexdigest()
    assert row["completion"] == f"<think>{parent.reasoning}</think>So the answer is \\boxed{{2}}."
    assert "-So the answer is \\boxed{3}." in row["diff"] and "+So the answer is \\boxed{2}." in row["diff"]
    assert row["id"] != parent.id and row["task_id"] == parent.task_id


def test_wrong_correction_is_rejected_and_ids_are_deterministic(campaign_output):
    out, samples = campaign_output
    parent = rejected(samples)
    corrector = Corrector(open_output(str(out)).config)
    wrong = corrector.correct(parent, "", "It is \\boxed{7}.", "ann", 1.0, "key-2")
    assert wrong["accepted"] is False
    assert [(v["verifier"], v["passed"]) for v in wrong["verdicts"]][:1] == [("sections", False)]  # no reasoning
    again = corrector.correct(parent, "", "It is \\boxed{7}.", "bob", 2.0, "key-3")
    assert again["id"] == wrong["id"]  # the same fix of the same parent is one sample
    other = corrector.correct(parent, "", "It is \\boxed{8}.", "ann", 1.0, "key-4")
    assert other["id"] != wrong["id"]
    assert content_hash(parent) == wrong["parent_hash"]


def test_a_correction_does_not_inherit_its_parents_dedup_fingerprint(campaign_output):
    out, samples = campaign_output
    parent = rejected(samples).model_copy(update={"fingerprint": b"the parent's text"})
    row = Corrector(open_output(str(out)).config).correct(parent, parent.reasoning, "It is \\boxed{2}.", "ann", 1.0,
                                                          "key-5")
    assert row["fingerprint"] is None
