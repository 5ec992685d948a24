"""What the gates did in a run, counted from committed rows (so a killed and resumed run counts the same): per
benchmark and method for decontamination, and the dedup rate, for the report and the dataset card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any


def _verdicts(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in row.get("verdicts") or [] if isinstance(v, dict)]


def _benchmark_of(reason: str) -> str:
    """Gate reasons read `<benchmark> item <id>...` (Contamination.reason)."""
    return reason.split(" item ", 1)[0] if " item " in reason else "?"


def quality_counts(excluded: Iterable[dict[str, Any]], samples: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """`excluded`: rows of data/excluded-*; `samples`: rows of data/accepted-* and data/rejected-*."""
    tasks: dict[str, Counter] = {"decontaminate": Counter(), "dedup": Counter()}
    for row in excluded:
        gate = row.get("gate") or "?"
        key = f"{row.get('benchmark')}/{row.get('method')}" if gate == "decontaminate" else row.get("method") or "?"
        tasks.setdefault(gate, Counter())[key] += 1
    rejected: dict[str, Counter] = {"decontaminate": Counter(), "dedup": Counter()}
    passed_verifiers = 0
    for row in samples:
        failing = [v for v in _verdicts(row) if not v.get("passed")]
        gate = next((v for v in failing if v.get("verifier") in rejected), None)
        if row.get("accepted") or (gate is not None and len(failing) == 1):
            passed_verifiers += 1  # accepted, or accepted by the verifiers and then stopped by a gate
        if gate is not None:
            reason = str(gate.get("reason") or "")
            key = _benchmark_of(reason) if gate["verifier"] == "decontaminate" else (
                "exact" if reason.startswith("exact") else "near")
            rejected[gate["verifier"]][key] += 1
    duplicates = sum(rejected["dedup"].values())
    return {
        "excluded_tasks": {gate: dict(sorted(c.items())) for gate, c in tasks.items()},
        "rejected_samples": {gate: dict(sorted(c.items())) for gate, c in rejected.items()},
        "sample_dedup_rate": round(duplicates / passed_verifiers, 6) if passed_verifiers else 0.0,
    }
