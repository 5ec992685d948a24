"""Which samples people should look at first, and what their reviews add up to.

Queues are pure functions of the committed samples (and, for adjudication, of the review events), so the same
output always yields the same queue in the same order.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from foundry.config import AcceptanceConfig
from foundry.review.events import VERDICT_KINDS, Event
from foundry.types import Sample

QUEUES = ("rejected", "accepted-audit", "disagreement", "all")
ADJUDICATION = "disagreement"
AUDIT_FRACTION = 0.1
Item = tuple[str, str, str, float]
"""(item_id, sample_id, queue, priority): one row of the review log's items table."""


def item_id(queue: str, sample_id: str) -> str:
    return f"{queue}/{sample_id}"


def closeness(sample: Sample, acceptance: AcceptanceConfig) -> float:
    """How near a rejected sample came to acceptance, in [0, 3]: verifiers that disagree (some passed, some not)
    count 2, plus 1 minus the distance of the weighted mean score from the threshold."""
    verdicts = sample.verdicts
    if not verdicts:
        return 0.0
    mixed = 2.0 if len({v.passed for v in verdicts}) > 1 else 0.0
    weights = [acceptance.weights.get(v.verifier, 1.0) for v in verdicts]
    mean = sum(w * v.score for w, v in zip(weights, verdicts)) / (sum(weights) or 1.0)
    threshold = acceptance.threshold if acceptance.mode == "weighted" else 1.0
    return round(mixed + 1.0 - min(1.0, abs(threshold - mean)), 6)


def audited(sample_id: str, fraction: float = AUDIT_FRACTION, seed: str = "audit") -> bool:
    """A deterministic random draw: the same samples are audited every time (hash of seed and id)."""
    draw = int.from_bytes(hashlib.sha256(f"{seed}\x1f{sample_id}".encode()).digest()[:8], "big") / 2**64
    return draw < fraction


def build_queue(samples: Iterable[Sample], queue: str, acceptance: AcceptanceConfig | None = None,
                audit_fraction: float = AUDIT_FRACTION) -> list[Item]:
    """Items of a sample queue, best first (ties in id order). `disagreement` is built from events instead."""
    if queue not in QUEUES or queue == ADJUDICATION:
        raise ValueError(f"{queue!r} is not a sample queue (use one of rejected, accepted-audit, all)")
    acceptance = acceptance or AcceptanceConfig()
    items = []
    for sample in sorted(samples, key=lambda s: s.id):
        if queue == "rejected" and not sample.accepted:
            items.append((item_id(queue, sample.id), sample.id, queue, closeness(sample, acceptance)))
        elif queue == "accepted-audit" and sample.accepted and audited(sample.id, audit_fraction):
            items.append((item_id(queue, sample.id), sample.id, queue, 0.0))
        elif queue == "all":
            items.append((item_id(queue, sample.id), sample.id, queue, 0.0))
    return sorted(items, key=lambda item: -item[3])


def live_verdicts(events: Iterable[Event]) -> list[Event]:
    """Verdict events not undone, by the undo events themselves (not the log's `voided` flag), so the result is a
    function of the event sequence alone."""
    events = list(events)
    undone = {e.payload.get("undoes") for e in events if e.kind == "undo"}
    return [e for e in events if e.kind in VERDICT_KINDS and e.seq not in undone]


def decision(event: Event) -> str:
    """What a review says of the ORIGINAL sample: a correction means the original was not acceptable as is."""
    return "accept" if event.kind == "accept" else "reject"


def disagreement_items(events: Iterable[Event]) -> list[Item]:
    """One adjudication item per sample whose independent reviews disagree (first disagreement first)."""
    by_sample: dict[str, list[Event]] = defaultdict(list)
    for event in live_verdicts(events):
        if not event.item_id.startswith(ADJUDICATION + "/"):
            by_sample[event.sample_id].append(event)
    items = []
    for sample_id, reviews in by_sample.items():
        if len({decision(e) for e in reviews}) > 1:
            items.append((item_id(ADJUDICATION, sample_id), sample_id, ADJUDICATION, -float(reviews[-1].seq)))
    return items


def reviewed_rows(samples: dict[str, Sample], events: Iterable[Event]) -> list[dict[str, Any]]:
    """The `reviewed` split: per reviewed sample, the people's decision beside the verifiers'. An adjudication
    overrides; otherwise the majority, and a tie is `disputed`. Deterministic in (samples, events)."""
    by_sample: dict[str, list[Event]] = defaultdict(list)
    for event in live_verdicts(events):
        by_sample[event.sample_id].append(event)
    rows = []
    for sample_id in sorted(by_sample):
        reviews = by_sample[sample_id]
        adjudicated = [e for e in reviews if e.item_id.startswith(ADJUDICATION + "/")]
        votes = Counter(decision(e) for e in reviews if e not in adjudicated)
        if adjudicated:
            human = decision(adjudicated[-1])
        elif votes["accept"] != votes["reject"]:
            human = votes.most_common(1)[0][0]
        else:
            human = "disputed"
        sample = samples.get(sample_id)
        rows.append({
            "sample_id": sample_id,
            "verifier_accepted": None if sample is None else sample.accepted,
            "human": human,
            "reviews": len(reviews) - len(adjudicated),
            "adjudicated": bool(adjudicated),
            "reviewers": sorted({e.reviewer for e in reviews}),
            "corrections": sorted(e.payload["corrected_id"] for e in reviews if e.kind == "correct"),
        })
    return rows
