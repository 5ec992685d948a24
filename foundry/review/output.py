"""Reading a campaign output for review: its manifest, its campaign config and its committed samples.

Read-only: shards are found through the commit records (what the journal committed), never by listing `data/`,
so a campaign still writing to the output, or staging debris, never shows up in a queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from foundry.config import CampaignConfig
from foundry.storage.manifest import committed_rows
from foundry.storage.shards import SCHEMA
from foundry.storage.uri import ObjectStore, open_store
from foundry.types import Sample

REVIEWS_DB = "_foundry/reviews/reviews.sqlite"
LINK_FIELDS = [
    ("parent_id", pa.string()),
    ("parent_hash", pa.string()),
    ("reviewer", pa.string()),
    ("corrected_at", pa.float64()),
    ("review_key", pa.string()),
    ("diff", pa.string()),
]
CORRECTED_SCHEMA = pa.schema(list(SCHEMA) + [pa.field(name, kind) for name, kind in LINK_FIELDS])
"""A corrected sample: a full sample row (re-verified) plus its link to the parent and the diff against it."""


class OutputError(Exception):
    """The output cannot be reviewed (no manifest, no campaign config); one line for the CLI."""


@dataclass
class ReviewOutput:
    store: ObjectStore
    uri: str
    manifest: dict[str, Any]
    config: CampaignConfig | None

    def default_db(self) -> Path:
        """The log beside the data for a local output; S3 outputs need an explicit local `--db`."""
        if "://" in self.uri:
            raise OutputError(f"{self.uri} is remote: pass --db PATH for the review log (a local file)")
        return Path(self.uri) / REVIEWS_DB


def open_output(uri: str) -> ReviewOutput:
    store = open_store(uri)
    raw = store.get("manifest.json")
    if raw is None:
        raise OutputError(f"{uri}: no manifest.json (not a Foundry campaign output)")
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise OutputError(f"{uri}/manifest.json: invalid JSON ({exc.msg})") from None
    config = None
    if isinstance(manifest.get("config"), dict):
        try:
            config = CampaignConfig.model_validate(manifest["config"])
        except ValueError as exc:
            first = str(exc).splitlines()
            raise OutputError(f"{uri}/manifest.json: field config does not validate "
                              f"({first[1] if len(first) > 1 else first[0]})") from None
    return ReviewOutput(store, uri, manifest, config)


def read_split(store: ObjectStore, split: str) -> list[dict[str, Any]]:
    """Every committed row of one split, in commit order."""
    return [row for _, _, row in committed_rows(store, (split,))]


def row_sample(row: dict[str, Any]) -> Sample:
    """The inverse of `shards.sample_row`: JSON text back to values, empty struct fields dropped."""
    values = {name: row.get(name) for name in Sample.model_fields if name in row}
    for name in ("tests", "trace"):
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    if values.get("messages"):
        values["messages"] = [{k: v for k, v in m.items() if v is not None} for m in values["messages"]]
    values["provenance"] = {k: v for k, v in (row.get("provenance") or {}).items() if v is not None}
    values["verdicts"] = row.get("verdicts") or []
    return Sample.model_validate({k: v for k, v in values.items() if v is not None})


def load_samples(store: ObjectStore) -> dict[str, Sample]:
    """Committed accepted and rejected samples by id (the campaign's own, what queues are built from)."""
    return {s.id: s for split in ("accepted", "rejected") for s in map(row_sample, read_split(store, split))}
