"""What the data cost: a report computed from the manifest and the run records, so `foundry report OUTPUT` works
any time, during a run or after one was killed (a killed run counts to its last recorded update)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from rich.table import Table

from foundry.quality.summary import quality_counts
from foundry.review.agreement import Verified, event_of, review_figures
from foundry.storage.layout import SAMPLE_SPLITS
from foundry.storage.manifest import committed_rows
from foundry.storage.records import Manifest, run_states
from foundry.storage.uri import ObjectStore


def cost(manifest: Manifest, price_per_gpu_hour: float | None = None, *, now: float | None = None) -> dict[str, Any]:
    """Totals over every run of the campaign (a resumed campaign has several, killed ones included).

    The price defaults to the campaign's `cluster.price_per_gpu_hour`, as recorded in the manifest's config.
    """
    if price_per_gpu_hour is None:
        price_per_gpu_hour = ((manifest.config or {}).get("cluster") or {}).get("price_per_gpu_hour")
    runs = manifest.runs
    wall = sum(r.elapsed_seconds for r in runs)
    gpu_seconds = sum(r.gpu_seconds for r in runs)
    replica_seconds = sum(r.held_replica_seconds for r in runs)
    tokens = sum(r.completion_tokens for r in runs)
    # first request → last write: the time the engines were generating, without start-up (model loading)
    generating = sum(r.last_write_at - r.first_request_at for r in runs if r.first_request_at and r.last_write_at)
    accepted, samples = manifest.accepted, manifest.samples
    verifiers: dict[str, dict[str, int]] = {}
    for run in runs:
        for name, counts in run.verifiers.items():
            total = verifiers.setdefault(name, {"passed": 0, "failed": 0})
            total["passed"] += counts.get("passed", 0)
            total["failed"] += counts.get("failed", 0)
    states = run_states(runs, now)
    report = {
        "wall_seconds": round(wall, 3),
        "runs": len(runs),
        "runs_not_finished": [_unfinished(run, state) for run, state in zip(runs, states) if state != "finished"],
        "samples": samples,
        "accepted": accepted,
        "rejected": manifest.rejected,
        "acceptance_rate": round(accepted / samples, 4) if samples else None,
        "rows": {split: n for split, n in manifest.counts.items() if n},
        "tasks_failed_infra": sum(r.tasks_failed_infra for r in runs),
        "generated_tokens": tokens,
        "tokens_per_second": round(tokens / wall, 1) if wall else None,
        "generation_seconds": round(generating, 3),
        "generation_tokens_per_second": round(tokens / generating, 1) if generating else None,
        "gpu_seconds": round(gpu_seconds, 3),
        "replica_seconds": round(replica_seconds, 3),
        "gpu_seconds_per_accepted": round(gpu_seconds / accepted, 4) if accepted else None,
        "replica_seconds_per_accepted": round(replica_seconds / accepted, 4) if accepted else None,
        "verifiers": {
            name: {**c, "pass_rate": round(c["passed"] / (c["passed"] + c["failed"]), 4) if any(c.values()) else None}
            for name, c in verifiers.items()
        },
    }
    if price_per_gpu_hour is not None:
        money = gpu_seconds / 3600 * price_per_gpu_hour
        report["cost"] = round(money, 4)
        report["cost_per_accepted"] = round(money / accepted, 6) if accepted else None
    return report


def findings(store: ObjectStore, manifest: Manifest | None = None) -> dict[str, Any]:
    """Figures only the committed rows know: what the quality gates kept out or rejected, and, once reviews were
    compacted, how people agree with each other and with each verifier. Sample shards are read (a few columns, one
    shard at a time) only when the campaign had gates or people reviewed it; otherwise this is free."""
    kept: dict[str, list[dict[str, Any]]] = {"excluded": [], "reviews": []}
    for _, split, row in committed_rows(store, ("excluded", "reviews")):
        kept[split].append(row)
    gated = bool(kept["excluded"]) or bool(((manifest.config if manifest else None) or {}).get("quality"))
    if not gated and not kept["reviews"]:
        return {}
    reviewed = {row["sample_id"] for row in kept["reviews"]}
    verified: dict[str, Verified] = {}

    def samples() -> Iterator[dict[str, Any]]:
        for batch, _, row in committed_rows(store, SAMPLE_SPLITS, ("id", "accepted", "verdicts")):
            if row["id"] in reviewed:
                verified[row["id"]] = Verified({v["verifier"]: v["passed"] for v in row["verdicts"] or []}, batch)
            yield row

    counted = quality_counts(kept["excluded"], samples())  # one pass: the gates' counts and the reviewed verdicts
    judged = Counter()
    for run in (manifest.runs if manifest else []):
        judged.update(run.decontamination_judge)
    if judged:
        counted["judge"] = dict(judged)  # gray-zone pairs put to the decontamination judge, over all runs
    figures: dict[str, Any] = {"quality": counted} if gated else {}
    if kept["reviews"]:
        events = sorted(map(event_of, kept["reviews"]), key=lambda event: event.seq)
        figures["review"] = review_figures(events, verified)
    return figures


def _unfinished(run: Any, state: str) -> dict[str, Any]:
    return {"run_id": run.run_id, "state": state, "counted_seconds": round(run.elapsed_seconds, 3),
            "last_update": when(run.updated_at or run.started_at)}


_STATE_TEXT = {
    "killed": "killed: never recorded an end; counted to its last update",
    "stale": "no update for a while (killed, or its host lost); counted to its last update",
    "running": "still running; counted so far",
    "failed": "failed",
}


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def render_report(manifest: Manifest, price_per_gpu_hour: float | None = None, *, now: float | None = None,
                  found: dict[str, Any] | None = None) -> Table:
    """The report as a table; `found` (from `findings`) adds the quality gates' and the reviewers' rows."""
    figures = cost(manifest, price_per_gpu_hour, now=now if now is not None else time.time())
    table = Table(title=f"campaign {manifest.campaign or '?'}", show_header=False)
    for key, value in figures.items():
        if key == "verifiers":
            for name, c in value.items():
                rate = "-" if c["pass_rate"] is None else f"{c['pass_rate']:.1%}"
                table.add_row(f"verifier {name}", f"passed {c['passed']}  failed {c['failed']}  ({rate})")
        elif key == "runs_not_finished":
            for run in value:
                table.add_row(f"run {run['run_id']}", f"{_STATE_TEXT[run['state']]} ({run['last_update']} UTC, "
                                                      f"{run['counted_seconds']:,.0f} s)")
        elif key == "rows":
            extra = {split: n for split, n in value.items() if split not in ("accepted", "rejected")}
            if extra:
                table.add_row("other rows", "  ".join(f"{split} {n:,}" for split, n in extra.items()))
        else:
            table.add_row(key.replace("_", " "), "-" if value is None else f"{value:,}" if isinstance(value, int)
                          else str(value))
    for label, text in finding_lines(found or {}):
        table.add_row(label, text)
    return table


def finding_lines(found: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) rows for what the gates kept out and what reviewers said, shared by report and card."""
    lines = []
    quality = found.get("quality") or {}
    for gate, counts in (quality.get("excluded_tasks") or {}).items():
        if counts:
            lines.append((f"tasks excluded by {gate}", _counted(counts)))
    for gate, counts in (quality.get("rejected_samples") or {}).items():
        if counts:
            lines.append((f"samples rejected by {gate}", _counted(counts)))
    if quality.get("sample_dedup_rate"):
        lines.append(("sample dedup rate", f"{quality['sample_dedup_rate']:.2%}"))
    judge = quality.get("judge")
    if judge:
        lines.append(("decontamination judge", f"{judge.get('calls', 0):,} gray-zone pairs asked, "
                                               f"{judge.get('confirmed', 0):,} confirmed"))
    review = found.get("review")
    if review:
        alpha = review["reviewer_alpha"]
        lines.append(("reviews", f"{review['reviews']:,} by {review['reviewers']} reviewers on "
                                 f"{review['reviewed_samples']:,} samples ({review['multiply_reviewed']:,} reviewed "
                                 f"twice or more)"))
        lines.append(("reviewer agreement", "-" if alpha is None else f"Krippendorff's alpha {alpha:.3f}"))
        if review["audited"]:
            lines.append(("audit precision", f"{percent(review['audit_precision'])} of {review['audited']:,} "
                                             "audited accepted samples kept by people"))
        for name, v in review["verifiers"].items():
            audit = f"; on audits {percent(v['audit_precision'])} of {v['audited']}" if v.get("audited") else ""
            lines.append((f"verifier {name} vs people", f"precision {percent(v['precision'])} of {v['passed']} passed"
                                                        f"{audit}; agreement {percent(v['agreement'])} of "
                                                        f"{v['reviewed']}"))
    return lines


def _counted(counts: dict[str, int]) -> str:
    return "  ".join(f"{key} {n:,}" for key, n in counts.items())


def percent(value: float | None) -> str:
    """A share as `12.5%`, `-` when there is none."""
    return "-" if value is None else f"{value:.1%}"
