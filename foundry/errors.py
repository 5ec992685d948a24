"""Errors that say something about the infrastructure, never about a sample.

The lowest layer: verifiers, judges and storage raise these; the executor retries them and, when they persist,
leaves the task uncommitted (resumable) instead of committing a rejection that no sample earned.
"""

from __future__ import annotations


class InfrastructureError(RuntimeError):
    """A dependency (judge endpoint, replica, verifier actor, store) failed; the sample itself is not to blame."""


class VerificationTimeout(InfrastructureError):
    """A verifier call did not answer within `cluster.verify_timeout_seconds`."""


class InfrastructureExhausted(InfrastructureError):
    """An infrastructure failure outlasted its retries: the task stays uncommitted and `--resume` samples it."""


class StoreOutage(InfrastructureError):
    """Commits kept failing past `output.max_outage_seconds`: the run stops, resumably."""
