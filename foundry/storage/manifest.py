"""The commit journal: which shards and which tasks are part of the dataset.

Layout under the output root:
    _foundry/staging/<seq>-<nonce>/<split>.parquet   shards being written (never read by users)
    _foundry/commits/<seq>.json                      commit records, created with a conditional put
    _foundry/runs/<run_id>.json                      run records (`records.py`), rewritten at each commit
    data/<split>-<seq>.parquet                       committed shards (Hugging Face layout)
    manifest.json                                    summary rebuilt from the commit and run records

The commit record is the commit point. Before it exists a staged shard is debris, deleted once its sequence number
is committed (by `recover()`, or by the commit that claims the number); after it, `recover()` rolls the copy into
`data/` forward. Because the record is written with If-None-Match (or a hard link), two writers can never both
claim a sequence number, so no sample can be committed twice.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from foundry.storage.base import AlreadyExists, ObjectStore
from foundry.storage.layout import COMMITS, MANIFEST, SHARD_NAME, STAGING, shard_key
from foundry.storage.records import Manifest, ManifestError, RunRecord, merge_runs, parse, read_run_records

__all__ = ["COMMITS", "MANIFEST", "SHARD_NAME", "STAGING", "CommitConflict", "Journal", "Manifest", "ManifestError",
           "RunRecord", "read_commits", "read_manifest", "shard_key"]


class CommitConflict(Exception):
    """Another writer committed to the same output concurrently."""


def read_commits(store: ObjectStore) -> list[dict[str, Any]]:
    """The commit records, in sequence order (read only: nothing is rolled forward or deleted)."""
    commits = [json.loads(store.get(key) or b"{}") for key in store.list(COMMITS) if key.endswith(".json")]
    return sorted(commits, key=lambda r: r["seq"])


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
        self.commits = read_commits(self.store)
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
        self.apply(self.prepare(shards, tasks, ids, counts), shards)

    def prepare(self, shards: dict[str, bytes], tasks: list[str], ids: list[str],
                counts: dict[str, int]) -> dict[str, Any]:
        """The commit record for the next sequence number, decided once: `apply` may then be retried after a
        store outage without the retry's record differing from one a lost response already wrote."""
        seq = self.next_seq
        stage = f"{STAGING}{seq:05d}-{uuid.uuid4().hex[:8]}/"
        entries = [{"split": split, "path": shard_key(split, seq), "staged": f"{stage}{split}.parquet",
                    "rows": counts[split], "bytes": len(data)} for split, data in shards.items()]
        return {"seq": seq, "time": time.time(), "shards": entries, "tasks": tasks, "ids": ids, "counts": counts}

    def apply(self, record: dict[str, Any], shards: dict[str, bytes]) -> None:
        """Stage the shards, write the commit record (the commit point), roll the shards into data/.
        Every step is idempotent, so a call that failed part-way can be repeated with the same record."""
        seq = record["seq"]
        for shard in record["shards"]:
            self.store.put(shard["staged"], shards[shard["split"]])
        key, body = f"{COMMITS}{seq:05d}.json", json.dumps(record).encode()
        try:
            self.store.put(key, body, if_absent=True)
        except AlreadyExists:
            # A put retried after a lost response finds its own record; the nonce makes any other record differ.
            if self.store.get(key) != body:
                raise CommitConflict(
                    f"commit {seq} already exists in {self.store.uri}: another run is writing to this output"
                ) from None
        for shard in record["shards"]:
            self._roll_forward(shard)
        for staged in self.store.list(f"{STAGING}{seq:05d}-"):
            self.store.delete(staged)  # ours, and any staging that lost the race for this number (or crashed)
        self.commits.append(record)
        self._index(record)

    def summary(self) -> dict[str, Any]:
        """The manifest's dataset fields: tasks, rows per split (whatever splits the commits carried), shards."""
        return summarize(self.commits, len(self.completed_tasks))

    def write_manifest(self, extra: dict[str, Any]) -> Manifest:
        """Rebuild manifest.json: `extra` (campaign, config, provenance, ...), the commits, and every run: the
        previous manifest's, the run records', then any in `extra["runs"]` (the later copy of a run wins)."""
        previous = read_manifest_file(self.store)
        given = [RunRecord.model_validate(run) for run in extra.get("runs", [])]
        runs = merge_runs(previous.runs if previous else [], read_run_records(self.store), given)
        manifest = Manifest.model_validate({**extra, **self.summary(), "runs": runs, "updated_at": time.time()})
        self.store.put(MANIFEST, manifest.json_bytes())
        return manifest


def summarize(commits: list[dict[str, Any]], tasks_completed: int) -> dict[str, Any]:
    counts: dict[str, int] = {"accepted": 0, "rejected": 0}
    shards = []
    for record in commits:
        for split, n in record["counts"].items():
            counts[split] = counts.get(split, 0) + n
        shards += [{k: s[k] for k in ("path", "split", "rows", "bytes")} | {"commit": record["seq"]}
                   for s in record["shards"]]
    return {"tasks_completed": tasks_completed, "counts": counts, "commits": len(commits), "shards": shards}


def read_manifest_file(store: ObjectStore) -> Manifest | None:
    """manifest.json as written when a run last closed (validated; foundry/1 migrated), or None."""
    data = store.get(MANIFEST)
    return None if data is None else parse(Manifest, data, f"{store.uri}/{MANIFEST}")


def read_manifest(store: ObjectStore) -> Manifest | None:
    """The output as it stands now: manifest.json with `runs` brought up to date from the run records (a run
    killed since, or one still running, counts to its last update). An output whose runs never closed (no
    manifest.json yet) is summarized from its commit and run records. None: no campaign output at all."""
    manifest, runs = read_manifest_file(store), read_run_records(store)
    if manifest is not None:
        return manifest.model_copy(update={"runs": merge_runs(manifest.runs, runs)})
    commits = read_commits(store)
    if not commits and not runs:
        return None
    tasks = len({task for record in commits for task in record["tasks"]})
    campaign = next((run.campaign for run in reversed(runs) if run.campaign), None)
    return Manifest.model_validate({"campaign": campaign, **summarize(commits, tasks), "runs": runs})
