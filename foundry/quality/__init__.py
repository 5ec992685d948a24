"""Quality gates: benchmark decontamination and deduplication, as campaign steps and standalone commands.

`build_gates(campaign)` gives the executor its task gates (before generation) and sample gates (before commit);
`foundry decontaminate` and `foundry dedup` (quality/commands.py) run the same code over any JSONL or parquet file.
The names below load `gates` on first use, so the CLI, which imports `commands`, starts without pyarrow or numpy.
"""

from typing import Any

__all__ = ["EXCLUDED_SCHEMA", "Exclusion", "Gates", "build_gates", "excluded_row"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from foundry.quality import gates

        return getattr(gates, name)
    raise AttributeError(f"module 'foundry.quality' has no attribute {name!r}")
