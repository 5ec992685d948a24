"""How far people agree with each other and with the verifiers, from committed review events.

Reviewer agreement is Krippendorff's alpha (nominal: accept or reject the original sample) over samples with two or
more independent reviews, per batch (the campaign commit that holds the sample) and overall. Per verifier, its
pass/fail is set against the people's decision on the same samples: agreement, and precision (the share of the
samples it passed that people accepted). The `accepted-audit` queue is a random draw of accepted samples, so the
precision measured there is free of the rejected queue's selection.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from foundry.review.events import Event
from foundry.review.queues import ADJUDICATION, decision, live_verdicts, reviewed_rows

AUDIT_QUEUE = "accepted-audit"


@dataclass(frozen=True)
class Verified:
    """What the campaign said of a sample: each verifier's pass/fail, and the commit (batch) that holds it."""

    verdicts: dict[str, bool]
    batch: str


def event_of(row: dict[str, Any]) -> Event:
    """A committed `reviews` row back as the event it was (payload from its JSON text)."""
    return Event(row["seq"], row["key"], row["item_id"], row["sample_id"], row["reviewer"], row["kind"],
                 json.loads(row["payload"] or "{}"), row["created_at"])


def krippendorff_alpha(units: Iterable[dict[str, str]]) -> float | None:
    """Nominal alpha over units given as {reviewer: decision}; None when it is undefined (fewer than two pairable
    values, or every value the same, where chance agreement is total)."""
    import krippendorff
    import numpy as np

    units = [u for u in units if len(u) >= 2]
    reviewers = sorted({r for u in units for r in u})
    values = sorted({v for u in units for v in u.values()})
    if len(values) < 2:
        return None
    code = {v: i for i, v in enumerate(values)}
    data = np.full((len(reviewers), len(units)), np.nan)
    for column, unit in enumerate(units):
        for reviewer, value in unit.items():
            data[reviewers.index(reviewer), column] = code[value]
    return round(float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")), 4)


def reviewer_units(events: list[Event]) -> dict[str, dict[str, str]]:
    """Per sample, each reviewer's latest live decision on it (adjudications are not independent reviews)."""
    units: dict[str, dict[str, str]] = defaultdict(dict)
    for event in live_verdicts(events):
        if not event.item_id.startswith(ADJUDICATION + "/"):
            units[event.sample_id][event.reviewer] = decision(event)
    return units


def _verifier_counts(decided: list[tuple[str, Verified]]) -> dict[str, dict[str, Any]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"reviewed": 0, "agree": 0, "passed": 0,
                                                             "passed_accepted": 0})
    for human, facts in decided:
        for verifier, passed in facts.verdicts.items():
            c = counts[verifier]
            c["reviewed"] += 1
            c["agree"] += passed == (human == "accept")
            c["passed"] += passed
            c["passed_accepted"] += passed and human == "accept"
    return {name: {"reviewed": c["reviewed"], "agreement": _share(c["agree"], c["reviewed"]),
                   "passed": c["passed"], "precision": _share(c["passed_accepted"], c["passed"])}
            for name, c in sorted(counts.items())}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def review_figures(events: list[Event], samples: dict[str, Verified]) -> dict[str, Any]:
    """The review section of the report and the card. `samples`: the reviewed samples' verifier facts."""
    units = reviewer_units(events)
    rows = [row for row in reviewed_rows({}, events) if row["human"] != "disputed" and row["sample_id"] in samples]
    audited = {e.sample_id for e in live_verdicts(events) if e.item_id.startswith(AUDIT_QUEUE + "/")}
    batches: dict[str, list[dict[str, str]]] = defaultdict(list)
    for sample_id, unit in units.items():
        if sample_id in samples:
            batches[samples[sample_id].batch].append(unit)
    decided = [(row["human"], samples[row["sample_id"]]) for row in rows]
    audit = [(row["human"], samples[row["sample_id"]]) for row in rows if row["sample_id"] in audited]
    verifiers = _verifier_counts(decided)
    for name, figures in _verifier_counts(audit).items():
        verifiers[name] |= {"audited": figures["passed"], "audit_precision": figures["precision"]}
    return {
        "reviews": len(live_verdicts(events)),
        "reviewed_samples": len(units),
        "reviewers": len({e.reviewer for e in live_verdicts(events)}),
        "multiply_reviewed": sum(len(u) >= 2 for u in units.values()),
        "reviewer_alpha": krippendorff_alpha(units.values()),
        "reviewer_alpha_per_batch": {b: krippendorff_alpha(us) for b, us in sorted(batches.items())
                                     if sum(len(u) >= 2 for u in us)},
        "audited": len(audit),
        "audit_precision": _share(sum(h == "accept" for h, _ in audit), len(audit)),
        "verifiers": verifiers,
    }
