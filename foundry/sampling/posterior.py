"""A task's pass rate as a Beta posterior: conjugate to accept/reject verdicts, so updating is two additions.

Probabilities and quantiles come from scipy's regularized incomplete beta function (`betainc`, `betaincc`,
`betaincinv`), imported on first use: `foundry validate` never pays for scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

INTERVAL = 0.90
"""Mass of the equal-tailed credible interval the task table records."""


@dataclass(frozen=True)
class BetaPosterior:
    """Beta(alpha, beta): prior pseudo-counts plus the accepted and rejected samples seen."""

    alpha: float
    beta: float

    def update(self, accepted: int, rejected: int) -> BetaPosterior:
        return BetaPosterior(self.alpha + accepted, self.beta + rejected)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def prob_at_least(self, rate: float) -> float:
        """P(pass rate >= rate)."""
        from scipy.special import betaincc

        return float(betaincc(self.alpha, self.beta, rate))

    def prob_at_most(self, rate: float) -> float:
        """P(pass rate <= rate)."""
        from scipy.special import betainc

        return float(betainc(self.alpha, self.beta, rate))

    def quantile(self, q: float) -> float:
        from scipy.special import betaincinv

        return float(betaincinv(self.alpha, self.beta, q))

    def interval(self, mass: float = INTERVAL) -> tuple[float, float]:
        """Equal-tailed credible interval holding `mass` of the posterior."""
        tail = (1.0 - mass) / 2
        return self.quantile(tail), self.quantile(1.0 - tail)
