"""Where things live in an output, named once: split names, shard keys, and the `_foundry/` bookkeeping prefixes.

Every module that writes, recovers, lists or publishes shards uses these, so the patterns cannot drift apart (they
once did: `\\d{5}` in one module and `\\d{5,}` in another, and recovery skipped shards from number 100,000 on).
"""

from __future__ import annotations

import re

SAMPLE_SPLITS = ("accepted", "rejected")
"""Splits whose rows are samples (`shards.SCHEMA`); their rows are the manifest's `samples`."""
SPLITS = (*SAMPLE_SPLITS, "excluded", "tasks", "corrected", "reviews")
"""Every split a commit may carry. Recovery deletes only unclaimed files named like these, never a user's."""

SHARD_NAME = re.compile(rf"data/(?P<split>{'|'.join(SPLITS)})-(?P<seq>\d{{5,}})\.parquet")
"""A shard this journal could have written: `data/<split>-<seq>.parquet`, the number zero-padded to 5 or more digits.
Match with `fullmatch`."""

STAGING = "_foundry/staging/"
COMMITS = "_foundry/commits/"
RUNS = "_foundry/runs/"
MANIFEST = "manifest.json"


def shard_key(split: str, seq: int) -> str:
    """The data/ key of commit `seq`'s shard of `split` (the one place shard names are made)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    return f"data/{split}-{seq:05d}.parquet"


def run_record_key(run_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", run_id):
        raise ValueError(f"run id {run_id!r}: use letters, digits, '_', '-', '.'")
    return f"{RUNS}{run_id}.json"
