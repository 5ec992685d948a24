"""Sampling policies: the fixed policy against a copy of the pre-policy driver loop, the adaptive stop rules at the
sample counts worked out by hand, priorities, and task rows that fit TASKS_SCHEMA."""

from __future__ import annotations

import math
import pickle
import random

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundry.config import CampaignConfig
from foundry.config.sampling import SamplingPolicyConfig
from foundry.sampling import TASKS_SCHEMA, SamplingPolicy, make_policy
from foundry.types import Task

ADAPTIVE = {"kind": "adaptive"}


def policy(n=1, budget=8, wanted=None, **config):
    return SamplingPolicy(SamplingPolicyConfig(**config), n=n, samples_per_task=budget, stop_after_accepted=wanted,
                          model="m", verifiers=[{"name": "math", "version": "1"}])


def drive(budget, verdicts):
    """Run a budget against a verdict stream; the request sizes it asked for."""
    sizes, stream = [], iter(verdicts)
    while (n := budget.next_n()) > 0:
        sizes.append(n)
        budget.record([next(stream) for _ in range(n)])
    return sizes


def legacy_sizes(n, budget, wanted, verdicts):
    """The request sizes of the driver loop before policies (campaign._task, commit 7c814c5), re-typed here."""
    samples, sizes, stream = [], [], iter(verdicts)
    wanted = wanted or float("inf")
    while len(samples) < budget and sum(samples) < wanted:
        k = min(n, budget - len(samples))
        sizes.append(k)
        samples += [next(stream) for _ in range(k)]
    return sizes


def test_fixed_request_sizes():
    budget = policy(n=3, budget=8).start("t")
    assert drive(budget, [False] * 8) == [3, 3, 2]
    assert budget.stop_reason == "budget"
    assert (budget.samples, budget.accepted, budget.rounds) == (8, 0, 3)


def test_fixed_stops_at_stop_after_accepted():
    budget = policy(n=3, budget=12, wanted=2).start("t")
    assert drive(budget, [True, False, False, False, True, False] + [False] * 6) == [3, 3]
    assert budget.stop_reason == "accepted"


def test_fixed_reaching_both_limits_at_once_is_accepted():
    budget = policy(n=2, budget=4, wanted=1).start("t")
    assert drive(budget, [False, False, False, True]) == [2, 2]
    assert budget.stop_reason == "accepted"


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 9), budget=st.integers(1, 30), wanted=st.one_of(st.none(), st.integers(1, 10)),
       seed=st.integers(0, 2**16))
def test_fixed_matches_the_legacy_loop(n, budget, wanted, seed):
    verdicts = [random.Random(seed).random() < 0.3 for _ in range(budget)]
    assert drive(policy(n=n, budget=budget, wanted=wanted).start("t"), verdicts) == \
        legacy_sizes(n, budget, wanted, verdicts)


def test_next_n_is_repeatable_without_record():
    budget = policy(n=3, budget=8).start("t")
    assert [budget.next_n() for _ in range(3)] == [3, 3, 3]


def test_no_output_ends_the_task():
    budget = policy(n=3, budget=8).start("t")
    budget.next_n()
    budget.record([])
    assert budget.next_n() == 0 and budget.stop_reason == "no_output"


def test_adaptive_pilot_then_n():
    budget = policy(n=2, budget=9, stop_hopeless_below=None, **ADAPTIVE, pilot=4).start("t")
    assert drive(budget, [True, False] * 5) == [4, 2, 2, 1]
    assert budget.stop_reason == "budget"


def test_adaptive_hopeless_at_the_hand_computed_count():
    # Uniform prior, k failures: P(p >= 0.05) = 0.95^(k+1) < 0.05 first when k = 58 (0.95^59 = 0.0485).
    assert 0.95**58 >= 0.05 > 0.95**59
    budget = policy(n=1, budget=100, **ADAPTIVE).start("t")
    drive(budget, [False] * 100)
    assert (budget.samples, budget.stop_reason) == (58, "hopeless")


def test_adaptive_hopeless_right_after_the_pilot():
    # P(p >= 0.3 | 4 failures, uniform prior) = 0.7^5 = 0.168 < 0.2, but 0.7^4 = 0.24: only the pilot's 4th sample
    # makes it fire, and the pilot is one request of 4.
    budget = policy(n=1, budget=8, **ADAPTIVE, pilot=4, stop_hopeless_below=0.3, confidence=0.2).start("t")
    assert drive(budget, [False] * 8) == [4]
    assert budget.stop_reason == "hopeless"


def test_adaptive_one_success_keeps_a_task_alive():
    # With 1 of 5 accepted: Beta(2, 5), P(p >= 0.3) = 1 - I_0.3(2, 5) = 0.42 (by the binomial sum), above 0.2.
    survive = sum(math.comb(6, j) * 0.3**j * 0.7 ** (6 - j) for j in range(2))
    assert survive == pytest.approx(0.420175, abs=1e-6)
    budget = policy(n=1, budget=6, **ADAPTIVE, pilot=4, stop_hopeless_below=0.3, confidence=0.2).start("t")
    drive(budget, [False, False, False, True, False, False])
    assert (budget.samples, budget.stop_reason) == (6, "budget")


def test_adaptive_easy():
    # k successes, uniform prior: P(p <= 0.7) = 0.7^(k+1); 0.7^5 < 0.2 at k = 4.
    budget = policy(n=1, budget=8, **ADAPTIVE, pilot=4, stop_hopeless_below=None, stop_easy_above=0.7,
                    confidence=0.2).start("t")
    assert drive(budget, [True] * 8) == [4]
    assert budget.stop_reason == "easy"


def test_adaptive_stop_after_accepted_comes_first():
    budget = policy(n=1, budget=8, wanted=2, **ADAPTIVE, pilot=4, stop_easy_above=0.7, confidence=0.2).start("t")
    drive(budget, [True] * 8)
    assert budget.stop_reason == "accepted"


def test_priority_informative_prefers_the_middle():
    pol = policy(n=4, budget=8, prefer="informative")
    middle, hopeless, easy = pol.start("a"), pol.start("b"), pol.start("c")
    middle.record([True, False, True, False])    # Beta(3, 3): mean 0.5 -> 0.25
    hopeless.record([False] * 4)                 # Beta(1, 5): mean 1/6 -> 5/36
    easy.record([True, True, True, False])       # Beta(4, 2): mean 2/3 -> 2/9
    assert pol.priority(middle) == pytest.approx(0.25)
    assert pol.priority(hopeless) == pytest.approx(5 / 36)
    assert pol.priority(easy) == pytest.approx(2 / 9)
    assert policy().priority(middle) == policy().priority(hopeless) == 0.0


def test_row_fits_the_schema_and_carries_the_posterior():
    budget = policy(n=4, budget=4).start(Task(id="t1", prompt="p"))
    drive(budget, [True, False, False, False])
    row = budget.row()
    table = pa.Table.from_pylist([row], schema=TASKS_SCHEMA)
    assert table.column_names == TASKS_SCHEMA.names
    assert (row["task_id"], row["samples"], row["accepted"], row["stop_reason"]) == ("t1", 4, 1, "budget")
    assert (row["posterior_alpha"], row["posterior_beta"]) == (2, 4)
    assert row["pass_rate"] == pytest.approx(1 / 3)
    assert row["pass_rate_lo"] < row["pass_rate"] < row["pass_rate_hi"]
    assert row["model"] == "m" and row["verifiers"] == [{"name": "math", "version": "1"}]
    later = budget.row(model="other", verifiers=[{"name": "code", "version": "2"}])
    assert later["model"] == "other" and later["verifiers"] == [{"name": "code", "version": "2"}]


def test_budgets_pickle():
    budget = policy(**ADAPTIVE).start("t")
    budget.record([True])
    copy = pickle.loads(pickle.dumps(budget))
    assert (copy.samples, copy.accepted, copy.next_n()) == (1, 1, 3)


def campaign(**fields):
    return CampaignConfig.model_validate({"name": "c", "source": {"path": "x.jsonl"}, "output": {"path": "out"},
                                          "engine": {"model": "some/model"}, **fields})


def test_make_policy_unset_is_fixed_with_todays_budget():
    pol = make_policy(campaign(sampling={"n": 3}, max_samples_per_task=7, stop_after_accepted=2))
    assert (pol.kind, pol.n, pol.samples_per_task, pol.stop_after_accepted, pol.model) == ("fixed", 3, 7, 2,
                                                                                          "some/model")
    assert drive(pol.start("t"), [False] * 7) == [3, 3, 1]


def test_make_policy_adaptive_from_the_issue_block():
    block = {"kind": "adaptive", "pilot": 4, "prior": {"alpha": 1, "beta": 1}, "stop_hopeless_below": 0.05,
             "stop_easy_above": 0.95, "confidence": 0.05, "prefer": "informative"}
    pol = make_policy(campaign(sampling_policy=block, max_samples_per_task=16), verifiers=[])
    assert pol.kind == "adaptive" and pol.config.prefer == "informative"
    assert pol.start("t").next_n() == 4
