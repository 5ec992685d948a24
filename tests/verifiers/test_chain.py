"""VerifierChain: config order, `all` (short-circuit) / `any` / `weighted` acceptance, and errors as rejections."""

from __future__ import annotations

import time

import pytest

from foundry.config import AcceptanceConfig
from foundry.types import Sample, Verdict
from foundry.verifiers.base import VerifierChain, accept, reject

SAMPLE = Sample(id="s", task_id="t", sample_index=0, completion="text")


class Fixed:
    """A verifier with a fixed verdict that records every call in a shared log."""

    version = "test-1"

    def __init__(self, name: str, passed: bool, score: float | None = None, log: list | None = None,
                 sleep: float = 0.0):
        self.name, self.passed, self.sleep = name, passed, sleep
        self.score = score if score is not None else float(passed)
        self.log = log if log is not None else []

    def verify(self, sample: Sample) -> Verdict:
        self.log.append(self.name)
        time.sleep(self.sleep)
        return accept(self, self.score) if self.passed else reject(self, f"{self.name} said no", self.score)


class Broken:
    name, version = "broken", "0"

    def verify(self, sample: Sample) -> Verdict:
        raise ValueError("parser exploded")


def chain(*verifiers, **acceptance) -> VerifierChain:
    return VerifierChain(list(verifiers), AcceptanceConfig(**acceptance))


def test_verifiers_run_in_config_order():
    log: list[str] = []
    verdicts, accepted = chain(Fixed("cheap", True, log=log), Fixed("middle", True, log=log),
                               Fixed("costly", True, log=log)).run(SAMPLE)
    assert log == ["cheap", "middle", "costly"]
    assert [v.verifier for v in verdicts] == log
    assert accepted


def test_all_mode_stops_at_the_first_rejection():
    log: list[str] = []
    verdicts, accepted = chain(Fixed("a", True, log=log), Fixed("b", False, log=log),
                               Fixed("c", True, log=log)).run(SAMPLE)
    assert log == ["a", "b"], "the costly verifier after a rejection never runs"
    assert [(v.verifier, v.passed) for v in verdicts] == [("a", True), ("b", False)]
    assert verdicts[-1].reason == "b said no"
    assert accepted is False


def test_all_mode_without_short_circuit_runs_everything_and_still_rejects():
    log: list[str] = []
    verdicts, accepted = chain(Fixed("a", False, log=log), Fixed("b", True, log=log),
                               short_circuit=False).run(SAMPLE)
    assert log == ["a", "b"] and len(verdicts) == 2
    assert accepted is False


@pytest.mark.parametrize(
    ("passes", "accepted"),
    [((False, False, True), True), ((True, False, False), True), ((False, False, False), False)],
)
def test_any_mode_runs_every_verifier_and_needs_one_pass(passes, accepted):
    log: list[str] = []
    verifiers = [Fixed(f"v{i}", p, log=log) for i, p in enumerate(passes)]
    verdicts, ok = chain(*verifiers, mode="any").run(SAMPLE)
    assert len(verdicts) == 3 and log == ["v0", "v1", "v2"]
    assert ok is accepted


@pytest.mark.parametrize(
    ("scores", "weights", "threshold", "accepted"),
    [
        ((1.0, 0.0), {}, 0.5, True),                     # mean 0.5
        ((1.0, 0.0), {}, 0.51, False),
        ((1.0, 0.0), {"a": 3.0}, 0.75, True),            # (3*1 + 1*0) / 4
        ((1.0, 0.0), {"a": 3.0}, 0.76, False),
        ((0.2, 0.9), {"a": 1.0, "b": 4.0}, 0.76, True),  # (0.2 + 3.6) / 5 = 0.76
        ((0.2, 0.9), {"b": 0.0}, 0.2, True),             # a zero weight ignores the verifier's score
        ((0.2, 0.9), {"b": 0.0}, 0.21, False),
    ],
)
def test_weighted_mode_compares_the_weighted_mean_score_to_the_threshold(scores, weights, threshold, accepted):
    log: list[str] = []
    a, b = Fixed("a", scores[0] >= 0.5, scores[0], log), Fixed("b", scores[1] >= 0.5, scores[1], log)
    verdicts, ok = chain(a, b, mode="weighted", weights=weights, threshold=threshold).run(SAMPLE)
    assert log == ["a", "b"], "weighted mode never short-circuits"
    assert ok is accepted


def test_a_verifier_that_raises_becomes_a_rejection_with_a_reason():
    log: list[str] = []
    verdicts, accepted = chain(Fixed("a", True, log=log), Broken(), Fixed("c", True, log=log)).run(SAMPLE)
    assert accepted is False
    broken = verdicts[1]
    assert (broken.verifier, broken.passed, broken.score) == ("broken", False, 0.0)
    assert broken.reason == "verifier error: ValueError: parser exploded"
    assert log == ["a"], "short-circuits like any other rejection"


def test_a_raising_verifier_in_any_mode_does_not_stop_the_others():
    verdicts, accepted = chain(Broken(), Fixed("ok", True), mode="any").run(SAMPLE)
    assert [v.passed for v in verdicts] == [False, True] and accepted


def test_a_long_error_message_is_truncated():
    class Loud:
        name, version = "loud", "0"

        def verify(self, sample):
            raise RuntimeError("x" * 5000)

    [verdict], _ = chain(Loud()).run(SAMPLE)
    assert verdict.reason.startswith("verifier error: RuntimeError: xxx") and len(verdict.reason) == 500


def test_a_verifier_that_returns_no_verdict_becomes_a_rejection():
    class Forgetful:
        name, version = "forgetful", "0"

        def verify(self, sample):
            return None

    [verdict], accepted = chain(Forgetful()).run(SAMPLE)
    assert verdict.passed is False and verdict.reason and not accepted


def test_seconds_are_recorded_per_verdict():
    verdicts, _ = chain(Fixed("slow", True, sleep=0.05), Fixed("fast", True)).run(SAMPLE)
    slow, fast = verdicts
    assert 0.05 <= slow.seconds < 5
    assert 0 <= fast.seconds < slow.seconds
    [errored], _ = chain(Broken()).run(SAMPLE)
    assert errored.seconds >= 0


def test_no_verifiers_accepts_everything():
    for mode in ("all", "any", "weighted"):
        assert chain(mode=mode).run(SAMPLE) == ([], True)


def test_accepts_judges_given_verdicts():
    c = chain(Fixed("a", True), Fixed("b", True))
    yes, no = Verdict(verifier="a", passed=True, score=1.0), Verdict(verifier="b", passed=False, score=0.0, reason="r")
    assert c.accepts([yes, Verdict(verifier="b", passed=True, score=1.0)])
    assert not c.accepts([yes, no])
    assert not c.accepts([yes]), "in `all` mode a missing verdict (short-circuited) is not a pass"


def test_versions_and_close():
    closed: list[str] = []

    class Closing(Fixed):
        def close(self):
            closed.append(self.name)

    c = chain(Closing("a", True), Fixed("b", True), Closing("c", True))
    assert c.versions() == [{"name": n, "version": "test-1"} for n in "abc"]
    c.close()
    assert closed == ["a", "c"]


def test_default_acceptance_is_all():
    verdicts, accepted = VerifierChain([Fixed("a", False), Fixed("b", True)]).run(SAMPLE)
    assert len(verdicts) == 1 and accepted is False
