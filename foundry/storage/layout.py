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

_PARTITION = r"(?:(?P<partition>p\d+of\d+)-)?"
SHARD_NAME = re.compile(rf"data/(?P<split>{'|'.join(SPLITS)})-{_PARTITION}(?P<seq>\d{{5,}})\.parquet")
"""A shard this journal could have written: `data/<split>-[<partition>-]<seq>.parquet`, the number zero-padded to 5
or more digits. Match with `fullmatch`."""

STAGING = "_foundry/staging/"
COMMITS = "_foundry/commits/"
RUNS = "_foundry/runs/"
LOGS = "_foundry/logs/"
"""Each run's log file (`foundry run` without --verbose): what replicas, verifiers, vLLM and Ray printed."""
MANIFEST = "manifest.json"
COMMIT_NAME = re.compile(rf"{COMMITS}{_PARTITION}(?P<seq>\d{{5,}})\.json")
STAGED_NAME = re.compile(rf"{STAGING}{_PARTITION}(?P<seq>\d{{5,}})-")
"""The start of a staged shard's key (match with `match`): its partition and commit number."""


def partition_label(index: int | None, count: int) -> str | None:
    """The name of partition `index` of `count` in keys (`p1of2`); None for an unpartitioned campaign."""
    if count <= 1 or index is None:
        return None
    if not 0 <= index < count:
        raise ValueError(f"partition {index} of {count}: expected 0 to {count - 1}")
    return f"p{index}of{count}"


def _prefix(partition: str | None) -> str:
    return f"{partition}-" if partition else ""


def shard_key(split: str, seq: int, partition: str | None = None) -> str:
    """The data/ key of commit `seq`'s shard of `split` (the one place shard names are made)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    return f"data/{split}-{_prefix(partition)}{seq:05d}.parquet"


def commit_prefix(partition: str | None = None) -> str:
    """Where a partition's commit records are (unpartitioned: every record)."""
    return f"{COMMITS}{_prefix(partition)}"


def commit_key(seq: int, partition: str | None = None) -> str:
    """The commit record of `seq`: each partition of a campaign numbers its commits on its own."""
    return f"{commit_prefix(partition)}{seq:05d}.json"


def staging_prefix(seq: int, partition: str | None = None) -> str:
    """Where commit `seq` stages its shards (`<prefix><nonce>/<split>.parquet`)."""
    return f"{STAGING}{_prefix(partition)}{seq:05d}-"


def run_record_key(run_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", run_id):
        raise ValueError(f"run id {run_id!r}: use letters, digits, '_', '-', '.'")
    return f"{RUNS}{run_id}.json"
