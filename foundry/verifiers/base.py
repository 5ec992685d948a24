"""The verifier interface and how verifiers combine.

A verifier is any object with a `name`, a `version` and `verify(sample) -> Verdict`. Verifiers are plain Python:
they know nothing of Ray; `campaign.py` ships a `VerifierChain` to Ray tasks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from foundry.config import AcceptanceConfig
from foundry.errors import InfrastructureError
from foundry.types import Sample, Verdict


@runtime_checkable
class Verifier(Protocol):
    name: str
    version: str

    def verify(self, sample: Sample) -> Verdict: ...


def reject(verifier: Verifier, reason: str, score: float = 0.0) -> Verdict:
    return Verdict(verifier=verifier.name, passed=False, score=score, reason=reason)


def accept(verifier: Verifier, score: float = 1.0, reason: str = "") -> Verdict:
    return Verdict(verifier=verifier.name, passed=True, score=score, reason=reason)


class VerifierChain:
    """Runs verifiers in config order (cheapest first) and decides acceptance; never raises on a sample."""

    def __init__(self, verifiers: Sequence[Verifier], acceptance: AcceptanceConfig | None = None):
        self.verifiers = list(verifiers)
        self.acceptance = acceptance or AcceptanceConfig()

    def run(self, sample: Sample) -> tuple[list[Verdict], bool]:
        verdicts: list[Verdict] = []
        for verifier in self.verifiers:
            verdict = self._timed(verifier, sample)
            verdicts.append(verdict)
            if not verdict.passed and self.acceptance.mode == "all" and self.acceptance.short_circuit:
                break
        return verdicts, self.accepts(verdicts)

    def accepts(self, verdicts: list[Verdict]) -> bool:
        if not verdicts:
            return True  # no verifiers configured: everything generated is kept
        mode = self.acceptance.mode
        if mode == "all":
            return len(verdicts) == len(self.verifiers) and all(v.passed for v in verdicts)
        if mode == "any":
            return any(v.passed for v in verdicts)
        weights = [self.acceptance.weights.get(v.verifier, 1.0) for v in verdicts]
        total = sum(weights) or 1.0
        return sum(w * v.score for w, v in zip(weights, verdicts, strict=True)) / total >= self.acceptance.threshold

    def versions(self) -> list[dict[str, str]]:
        return [{"name": v.name, "version": v.version} for v in self.verifiers]

    def close(self) -> None:
        for verifier in self.verifiers:
            if hasattr(verifier, "close"):
                verifier.close()

    @staticmethod
    def _timed(verifier: Verifier, sample: Sample) -> Verdict:
        start = time.perf_counter()
        try:
            verdict = verifier.verify(sample)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"returned {type(verdict).__name__}, not a Verdict")
        except InfrastructureError:
            raise  # says nothing about the sample: the executor retries, or leaves the task uncommitted
        except Exception as exc:  # a verifier bug must reject the sample, not crash the campaign
            verdict = reject(verifier, f"verifier error: {type(exc).__name__}: {exc}"[:500])
        return verdict.model_copy(update={"seconds": round(time.perf_counter() - start, 6)})
