"""The commit journal: which shards and which tasks are part of the dataset.

Layout under the output root:
    _foundry/staging/<seq>-<nonce>/<split>.parquet   shards being written (never read by users)
    _foundry/commits/<seq>.json                      commit records, created with a conditional put
    data/<split>-<seq>.parquet                       committed shards (Hugging Face layout)
    manifest.json                                    summary rebuilt from the commit records

The commit record is the commit point. Before it exists a staged shard is debris, deleted once its sequence number
is committed (by `recover()`, or by the commit that claims the number); after it, `recover()` rolls the copy into
`data/` forward. Because the record is written with If-None-Match (or a hard link), two writers can never both
claim a sequence number, so no sample can be committed twice.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from foundry.storage.uri import AlreadyExists, ObjectStore

SHARD_NAME = re.compile(r"data/(accepted|rejected)-\d{5}\.parquet")
STAGING = "_foundry/staging/"
COMMITS = "_foundry/commits/"
MANIFEST = "manifest.json"


class CommitConflict(Exception):
    """Another writer committed to the same output concurrently."""


def shard_key(split: str, seq: int) -> str:
    return f"data/{split}-{seq:05d}.parquet"


class Journal:
    def __init__(self, store: ObjectStore):
        self.store = store
        self.commits: list[dict[str, Any]] = []
        self.completed_tasks: set[str] = set()
        self.committed_ids: set[str] = set()

    @property
    def next_seq(self) -> int:
        return self.commits[-1]["seq"] + 1 if self.commits else 0

    def recover(self) -> None:
        """Load commit records, finish interrupted commits, delete uncommitted staging debris."""
        # data/ is listed before the commit records: a shard only reaches data/ after its record exists, so a
        # writer committing meanwhile cannot have its fresh shard mistaken for an orphan and deleted.
        finals = set(self.store.list("data/"))
        self.commits = []
        for key in self.store.list(COMMITS):
            if key.endswith(".json"):
                record = json.loads(self.store.get(key) or b"{}")
                self.commits.append(record)
        self.commits.sort(key=lambda r: r["seq"])
        for record in self.commits:
            for shard in record["shards"]:
                if shard["path"] not in finals:
                    self._roll_forward(shard)
            self._index(record)
        # Staging for a sequence number that has a record is done with (rolled forward above, or it lost the race
        # for that number). Newer staging may be another writer's shard in flight: `commit` of that number
        # removes it, or the conditional put makes that writer fail, so it is never deleted from under a commit.
        for key in self.store.list(STAGING):
            if self._staged_seq(key) < self.next_seq:
                self.store.delete(key)
        committed_paths = {s["path"] for r in self.commits for s in r["shards"]}
        for key in finals - committed_paths:
            if SHARD_NAME.fullmatch(key):  # only shards this journal could have written; never a user's files
                self.store.delete(key)
        self.clean_incomplete()

    def clean_incomplete(self) -> None:
        """Remove writes a crash cut short: by the rules of `recover`, staging of a decided number, or a shard copy
        into data/ (every committed shard is whole in data/ by then; an uncommitted one was never to be there).
        Run at recovery and again when a run ends, when the numbers a crashed run had in flight are decided."""
        self.store.clean_incomplete(
            lambda key: (key.startswith(STAGING) and self._staged_seq(key) < self.next_seq)
            or SHARD_NAME.fullmatch(key) is not None)

    @staticmethod
    def _staged_seq(key: str) -> int:
        return int(key[len(STAGING):].split("-", 1)[0])

    def _roll_forward(self, shard: dict[str, Any]) -> None:
        """Copy a committed shard into data/, unless a concurrent writer's `recover()` or `commit()` just did."""
        try:
            self.store.copy(shard["staged"], shard["path"])
        except FileNotFoundError:
            # Whoever finished the copy first also removed the staged shard; that is only fine if the copy is there.
            if shard["path"] not in self.store.list(shard["path"]):
                raise

    def _index(self, record: dict[str, Any]) -> None:
        self.completed_tasks.update(record["tasks"])
        self.committed_ids.update(record["ids"])

    def commit(self, shards: dict[str, bytes], tasks: list[str], ids: list[str], counts: dict[str, int]) -> None:
        seq = self.next_seq
        stage = f"{STAGING}{seq:05d}-{uuid.uuid4().hex[:8]}/"
        entries = []
        for split, data in shards.items():
            staged = f"{stage}{split}.parquet"
            self.store.put(staged, data)
            entries.append({"split": split, "path": shard_key(split, seq), "staged": staged, "rows": counts[split],
                            "bytes": len(data)})
        record = {"seq": seq, "time": time.time(), "shards": entries, "tasks": tasks, "ids": ids, "counts": counts}
        key, body = f"{COMMITS}{seq:05d}.json", json.dumps(record).encode()
        try:
            self.store.put(key, body, if_absent=True)
        except AlreadyExists:
            # A put retried after a lost response finds its own record; the nonce makes any other record differ.
            if self.store.get(key) != body:
                raise CommitConflict(
                    f"commit {seq} already exists in {self.store.uri}: another run is writing to this output"
                ) from None
        for shard in entries:
            self._roll_forward(shard)
        for staged in self.store.list(f"{STAGING}{seq:05d}-"):
            self.store.delete(staged)  # ours, and any staging that lost the race for this number (or crashed)
        self.commits.append(record)
        self._index(record)

    def summary(self) -> dict[str, Any]:
        counts = {"accepted": 0, "rejected": 0}
        shards = []
        for record in self.commits:
            for split, n in record["counts"].items():
                counts[split] = counts.get(split, 0) + n
            shards += [{k: s[k] for k in ("path", "split", "rows", "bytes")} | {"commit": record["seq"]}
                       for s in record["shards"]]
        return {"tasks_completed": len(self.completed_tasks), "samples": sum(counts.values()), **counts,
                "commits": len(self.commits), "shards": shards}

    def write_manifest(self, extra: dict[str, Any]) -> dict[str, Any]:
        manifest = {"format": "foundry/1", **extra, **self.summary(), "updated_at": time.time()}
        self.store.put(MANIFEST, json.dumps(manifest, indent=2, default=str).encode())
        return manifest


def read_manifest(store: ObjectStore) -> dict[str, Any] | None:
    data = store.get(MANIFEST)
    return json.loads(data) if data else None
