"""Beta posterior figures against closed forms worked by hand (Beta(1, b), Beta(a, 1), Beta(2, 2)) and scipy.stats."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from foundry.sampling import BetaPosterior


def test_update_adds_counts_to_the_prior():
    posterior = BetaPosterior(1, 1).update(accepted=3, rejected=5)
    assert (posterior.alpha, posterior.beta) == (4, 6)
    assert posterior.mean == pytest.approx(0.4)


def test_all_failures_from_a_uniform_prior():
    # Beta(1, 5): CDF 1 - (1-x)^5, so P(p >= 0.05) = 0.95^5 and the q-quantile is 1 - (1-q)^(1/5).
    posterior = BetaPosterior(1, 1).update(0, 4)
    assert posterior.prob_at_least(0.05) == pytest.approx(0.95**5)
    lo, hi = posterior.interval()
    assert lo == pytest.approx(1 - 0.95 ** (1 / 5))
    assert hi == pytest.approx(1 - 0.05 ** (1 / 5))


def test_all_successes_from_a_uniform_prior():
    # Beta(7, 1): CDF x^7.
    posterior = BetaPosterior(1, 1).update(6, 0)
    assert posterior.prob_at_most(0.95) == pytest.approx(0.95**7)
    assert posterior.interval() == pytest.approx((0.05 ** (1 / 7), 0.95 ** (1 / 7)))


def test_beta_two_two_cdf_by_hand():
    posterior = BetaPosterior(2, 2)
    x = 0.3
    assert posterior.prob_at_most(x) == pytest.approx(3 * x**2 - 2 * x**3)
    assert posterior.prob_at_least(x) == pytest.approx(1 - (3 * x**2 - 2 * x**3))
    assert posterior.quantile(0.5) == pytest.approx(0.5)


@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 0.5), (3.5, 7.25), (1, 40), (20, 3)])
def test_against_scipy_stats(alpha, beta):
    posterior, reference = BetaPosterior(alpha, beta), stats.beta(alpha, beta)
    assert posterior.mean == pytest.approx(reference.mean())
    assert posterior.interval() == pytest.approx(reference.interval(0.90))
    assert posterior.prob_at_least(0.1) == pytest.approx(reference.sf(0.1))
    assert math.isclose(posterior.prob_at_most(0.9), reference.cdf(0.9), rel_tol=1e-9)
