"""What the data cost and how hard it was, as PNGs for the report and the dataset card.

Four figures from the committed output only: the pass rate of every task, accepted samples per GPU-second as the
run went (commit times from the journal, GPUs from the run records), rejection reasons per verifier, and completion
lengths of accepted vs rejected samples. matplotlib's object API (`Figure`, Agg canvas): no pyplot global state,
so it is safe in any thread and never opens a window.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundry.publish.export import campaign_prior, committed_tasks, pass_rate
from foundry.storage.manifest import read_commits, read_manifest
from foundry.storage.uri import ObjectStore

PLOTS = {
    "pass_rates": ("pass_rate_histogram.png", "Pass rate per task"),
    "yield_rate": ("accepted_per_gpu_second.png", "Accepted samples per GPU-second over the run"),
    "rejections": ("rejection_reasons.png", "Rejection reasons per verifier"),
    "lengths": ("completion_lengths.png", "Completion length, accepted vs rejected"),
}
"""Plot name -> (file name, caption)."""
_MAX_REASONS = 12
_LABEL = 48


@dataclass
class PlotData:
    """The series behind the figures (tests and the report can check them without reading pixels)."""

    pass_rates: list[float] = field(default_factory=list)
    rejections: Counter = field(default_factory=Counter)
    """(verifier, reason) -> failing verdicts on rejected samples."""
    lengths: dict[str, list[int]] = field(default_factory=lambda: {"accepted": [], "rejected": []})
    yield_curve: list[tuple[float, float]] = field(default_factory=list)
    """(compute-seconds so far, accepted per compute-second so far), one point per commit."""
    compute_unit: str = "GPU-second"


def plot_data(store: ObjectStore) -> PlotData:
    manifest = read_manifest(store)
    config = (manifest.config if manifest else None) or {}
    prior, kept = campaign_prior(config), (config.get("output") or {}).get("keep_rejected", True)
    data = PlotData()
    for group in committed_tasks(store):
        rate = pass_rate(group, prior, kept)
        if rate is not None:
            data.pass_rates.append(rate["pass_rate"])
        for split in ("accepted", "rejected"):
            data.lengths[split] += [s["completion_tokens"] or 0 for s in getattr(group, split)]
        for sample in group.rejected:
            data.rejections.update((v["verifier"], _short(v["reason"] or "(no reason)"))
                                   for v in sample["verdicts"] or [] if not v["passed"])
    runs = [run.model_dump() for run in manifest.runs] if manifest else []
    data.yield_curve, data.compute_unit = yield_curve(read_commits(store), runs)
    return data


def _short(reason: str) -> str:
    line = reason.strip().splitlines()[0] if reason.strip() else reason
    return line if len(line) <= _LABEL else line[:_LABEL - 1] + "…"


def yield_curve(commits: list[dict[str, Any]], runs: list[dict[str, Any]]) -> tuple[list[tuple[float, float]], str]:
    """Cumulative accepted per compute-second at each commit. Compute-seconds count only while a run was going
    (each run from its start to its end, or its last update if it was killed), times its GPUs; a CPU-only run
    (no GPUs) counts replica-seconds instead, and the unit says so."""
    gpus = any(r.get("gpus_per_replica") for r in runs)
    spans = []
    for run in runs:
        start = run.get("started_at")
        end = start + run["wall_seconds"] if run.get("wall_seconds") else run.get("updated_at")
        weight = (run.get("replicas") or 1) * ((run.get("gpus_per_replica") or 0) if gpus else 1)
        if start is not None:
            spans.append((start, end, weight))
    points, accepted = [], 0
    for record in commits:
        accepted += record.get("counts", {}).get("accepted", 0)
        now = record["time"]
        seconds = sum(w * max(0.0, min(now, end if end is not None else now) - start) for start, end, w in spans)
        if seconds > 0:
            points.append((seconds, accepted / seconds))
    return points, "GPU-second" if gpus else "replica-second"


def render_plots(store: ObjectStore) -> dict[str, bytes]:
    """PNG bytes by file name (see PLOTS), for a card push that uploads them without touching disk."""
    data = plot_data(store)
    draw = {"pass_rates": _pass_rates, "yield_rate": _yield_rate, "rejections": _rejections, "lengths": _lengths}
    return {PLOTS[name][0]: _png(name, draw[name], data) for name in PLOTS}


def write_plots(store: ObjectStore, folder: str | Path) -> dict[str, Path]:
    """Write the four PNGs into `folder`; returns plot name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, paths = render_plots(store), {}
    for name, (file, _) in PLOTS.items():
        paths[name] = folder / file
        paths[name].write_bytes(images[file])
    return paths


def plots_markdown(prefix: str = "plots/") -> str:
    """Card section linking the PNGs, as uploaded under `prefix` next to README.md."""
    return "## Yield\n\n" + "\n\n".join(f"![{caption}]({prefix}{file})" for file, caption in PLOTS.values())


def _png(name: str, draw: Any, data: PlotData) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(PLOTS[name][1])
    draw(axes, data)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _empty(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _pass_rates(axes: Any, data: PlotData) -> None:
    if not data.pass_rates:
        return _empty(axes, "no pass rates (no task table and rejected samples not kept)")
    axes.hist(data.pass_rates, bins=20, range=(0, 1), color="#4c72b0")
    axes.set_xlabel("pass rate (posterior mean)")
    axes.set_ylabel("tasks")


def _yield_rate(axes: Any, data: PlotData) -> None:
    if not data.yield_curve:
        return _empty(axes, "no run records with compute time")
    seconds, rates = zip(*data.yield_curve, strict=True)
    axes.plot(seconds, rates, marker="o", color="#55a868")
    axes.set_xlabel(f"{data.compute_unit}s spent")
    axes.set_ylabel(f"accepted per {data.compute_unit} (cumulative)")


def _rejections(axes: Any, data: PlotData) -> None:
    if not data.rejections:
        return _empty(axes, "no rejected samples")
    top = data.rejections.most_common(_MAX_REASONS)[::-1]
    axes.barh([f"{verifier}: {reason}" for (verifier, reason), _ in top], [n for _, n in top], color="#c44e52")
    axes.set_xlabel("failing verdicts")


def _lengths(axes: Any, data: PlotData) -> None:
    if not any(data.lengths.values()):
        return _empty(axes, "no samples")
    import numpy as np

    edges = np.histogram_bin_edges(data.lengths["accepted"] + data.lengths["rejected"], bins=30)  # same bins
    for split, color in (("accepted", "#55a868"), ("rejected", "#c44e52")):
        if data.lengths[split]:
            axes.hist(data.lengths[split], bins=edges, alpha=0.6, color=color,
                      label=f"{split} ({len(data.lengths[split])})")
    axes.set_xlabel("completion tokens")
    axes.set_ylabel("samples")
    axes.legend()
