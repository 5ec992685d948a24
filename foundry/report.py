"""What the data cost: a report computed from the manifest alone, so `foundry report OUTPUT` works any time."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def cost(manifest: dict[str, Any], price_per_gpu_hour: float | None = None) -> dict[str, Any]:
    """Totals over every run recorded in the manifest (a resumed campaign has several).

    The price defaults to the campaign's `cluster.price_per_gpu_hour`, as recorded in the manifest's config.
    """
    if price_per_gpu_hour is None:
        price_per_gpu_hour = ((manifest.get("config") or {}).get("cluster") or {}).get("price_per_gpu_hour")
    runs = manifest.get("runs", [])
    wall = sum(r["wall_seconds"] for r in runs)
    gpu_seconds = sum(r["wall_seconds"] * r["replicas"] * r["gpus_per_replica"] for r in runs)
    replica_seconds = sum(r["replica_seconds"] for r in runs)
    tokens = sum(r["completion_tokens"] for r in runs)
    # first request → last write: the time the engines were generating, without start-up (model loading)
    generating = sum(r["last_write_at"] - r["first_request_at"] for r in runs
                     if r.get("first_request_at") and r.get("last_write_at"))
    accepted = manifest.get("accepted", 0)
    samples = manifest.get("samples", 0)
    verifiers: dict[str, dict[str, int]] = {}
    for run in runs:
        for name, counts in run.get("verifiers", {}).items():
            total = verifiers.setdefault(name, {"passed": 0, "failed": 0})
            total["passed"] += counts["passed"]
            total["failed"] += counts["failed"]
    report = {
        "wall_seconds": round(wall, 3),
        "runs": len(runs),
        "samples": samples,
        "accepted": accepted,
        "rejected": manifest.get("rejected", 0),
        "acceptance_rate": round(accepted / samples, 4) if samples else None,
        "generated_tokens": tokens,
        "tokens_per_second": round(tokens / wall, 1) if wall else None,
        "generation_seconds": round(generating, 3),
        "generation_tokens_per_second": round(tokens / generating, 1) if generating else None,
        "gpu_seconds": round(gpu_seconds, 3),
        "replica_seconds": round(replica_seconds, 3),
        "gpu_seconds_per_accepted": round(gpu_seconds / accepted, 4) if accepted else None,
        "replica_seconds_per_accepted": round(replica_seconds / accepted, 4) if accepted else None,
        "verifiers": {
            name: {**c, "pass_rate": round(c["passed"] / (c["passed"] + c["failed"]), 4)}
            for name, c in verifiers.items()
        },
    }
    if price_per_gpu_hour is not None:
        money = gpu_seconds / 3600 * price_per_gpu_hour
        report["cost"] = round(money, 4)
        report["cost_per_accepted"] = round(money / accepted, 6) if accepted else None
    return report


def render_report(manifest: dict[str, Any], price_per_gpu_hour: float | None = None) -> Table:
    figures = cost(manifest, price_per_gpu_hour)
    table = Table(title=f"campaign {manifest.get('campaign', '?')}", show_header=False)
    for key, value in figures.items():
        if key == "verifiers":
            for name, counts in value.items():
                table.add_row(f"verifier {name}", f"passed {counts['passed']}  failed {counts['failed']}  "
                                                  f"({counts['pass_rate']:.1%})")
        else:
            table.add_row(key.replace("_", " "), "-" if value is None else f"{value:,}" if isinstance(value, int)
                          else str(value))
    return table
