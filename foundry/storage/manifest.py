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
from collections.abc import Iterator
from typing import Any

from foundry.idset import IdSet
from foundry.storage.base import AlreadyExists, ObjectStore
from foundry.storage.layout import (COMMIT_NAME, COMMITS, MANIFEST, SHARD_NAME, STAGED_NAME, STAGING, commit_key,
                                    shard_key, staging_prefix)
from foundry.storage.records import Manifest, ManifestError, RunRecord, merge_runs, parse, read_run_records

__all__ = ["COMMITS", "MANIFEST", "SHARD_NAME", "STAGING", "CommitConflict", "Journal", "Manifest", "ManifestError",
           "RunRecord", "committed_rows", "iter_commits", "read_commits", "read_manifest", "shard_key"]

_BULKY = ("tasks", "ids")
"""Commit-record fields that grow with the campaign: read once at recovery, never kept in memory."""


class CommitConflict(Exception):
    """Another writer committed to the same output concurrently."""


def _commit_order(key: str) -> tuple[str, int]:
    match = COMMIT_NAME.fullmatch(key)
    return match["partition"] or "", int(match["seq"])


def iter_commits(store: ObjectStore) -> Iterator[dict[str, Any]]:
    """The commit records one at a time (read only), by partition then sequence: a campaign of millions of tasks
    never has every record's task and id lists in memory at once."""
    for key in sorted((key for key in store.list(COMMITS) if COMMIT_NAME.fullmatch(key)), key=_commit_order):
        data = store.get(key)
        if data is not None:
            yield json.loads(data)


def committed_rows(store: ObjectStore, splits: tuple[str, ...],
                   columns: tuple[str, ...] | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(batch, split, row) for every committed row of `splits`, one shard in memory at a time; `batch` names the
    commit that holds the row (`00003`, or `p1of2-00003` in a partitioned campaign). A shard whose copy into
    `data/` was not rolled forward yet is read where it was staged (read only: nothing is moved)."""
    import io

    import pyarrow.parquet as pq

    for record in iter_commits(store):
        batch = "-".join(filter(None, (record.get("partition"), f"{record['seq']:05d}")))
        for shard in record["shards"]:
            if shard["split"] not in splits:
                continue
            data = store.get(shard["path"]) or (store.get(shard["staged"]) if shard.get("staged") else None)
            if data is not None:
                # One thread: with Arrow's pool, `foundry report` aborted at exit about half the time ("terminate
                # called without an active exception") after reading sample shards; these are small reads anyway.
                table = pq.read_table(io.BytesIO(data), columns=list(columns) if columns else None,
                                      use_threads=False)
                yield from ((batch, shard["split"], row) for row in table.to_pylist())


def read_commits(store: ObjectStore) -> list[dict[str, Any]]:
    """Every commit record, whole, by partition then sequence (read only: nothing is rolled forward or deleted)."""
    return list(iter_commits(store))


class Journal:
    """The commit protocol of one writer. `partition` (`p1of2`): one partition of a partitioned campaign, which
    numbers, stages, recovers and cleans only its own commits, so partitions never contend; it still learns every
    committed task, so a task is never done twice."""

    def __init__(self, store: ObjectStore, partition: str | None = None):
        self.store = store
        self.partition = partition
        self.commits: list[dict[str, Any]] = []
        """This writer's commit records without their task and id lists (those grow with the campaign)."""
        self.completed_tasks = IdSet()
        self._others = False
        """Records of other partitions were found at recovery."""

    @property
    def next_seq(self) -> int:
        return self.commits[-1]["seq"] + 1 if self.commits else 0

    @property
    def _shared(self) -> bool:
        """Other partitions commit to this output too: summaries are read from every record in the store."""
        return self._others or self.partition is not None

    def _ours(self, partition: str | None) -> bool:
        return (partition or None) == self.partition

    def recover(self) -> None:
        """Load commit records, finish interrupted commits, delete uncommitted staging debris."""
        # data/ is listed before the commit records: a shard only reaches data/ after its record exists, so a
        # writer committing meanwhile cannot have its fresh shard mistaken for an orphan and deleted.
        finals = set(self.store.list("data/"))
        self.commits, committed_paths = [], set()
        for record in iter_commits(self.store):
            self.completed_tasks.update(record["tasks"])
            committed_paths.update(shard["path"] for shard in record["shards"])
            if not self._ours(record.get("partition")):
                self._others = True
                continue
            for shard in record["shards"]:
                if shard["path"] not in finals:
                    self._roll_forward(shard)
            self.commits.append(_slim(record))
        # Staging for a sequence number that has a record is done with (rolled forward above, or it lost the race
        # for that number). Newer staging may be another writer's shard in flight: `commit` of that number
        # removes it, or the conditional put makes that writer fail, so it is never deleted from under a commit.
        for key in self.store.list(STAGING):
            if self._decided_staging(key):
                self.store.delete(key)
        for key in finals - committed_paths:
            match = SHARD_NAME.fullmatch(key)  # only shards this journal could have written; never a user's files
            if match and self._ours(match["partition"]):
                self.store.delete(key)
        self.clean_incomplete()

    def clean_incomplete(self) -> None:
        """Remove writes a crash cut short: by the rules of `recover`, staging of a decided number, or a shard copy
        into data/ (every committed shard is whole in data/ by then; an uncommitted one was never to be there).
        Run at recovery and again when a run ends, when the numbers a crashed run had in flight are decided."""

        def abandoned(key: str) -> bool:
            match = SHARD_NAME.fullmatch(key)
            return self._decided_staging(key) or (match is not None and self._ours(match["partition"]))

        self.store.clean_incomplete(abandoned)

    def _decided_staging(self, key: str) -> bool:
        """Staging of this writer's for a number already committed."""
        match = STAGED_NAME.match(key)
        return match is not None and self._ours(match["partition"]) and int(match["seq"]) < self.next_seq

    def _roll_forward(self, shard: dict[str, Any]) -> None:
        """Copy a committed shard into data/, unless a concurrent writer's `recover()` or `commit()` just did."""
        try:
            self.store.copy(shard["staged"], shard["path"])
        except FileNotFoundError:
            # Whoever finished the copy first also removed the staged shard; that is only fine if the copy is there.
            if shard["path"] not in self.store.list(shard["path"]):
                raise

    @property
    def committed_ids(self) -> set[str]:
        """Every committed sample id, read from the records (not kept: they grow with the campaign)."""
        return {sample for record in iter_commits(self.store) for sample in record["ids"]}

    def commit(self, shards: dict[str, bytes], tasks: list[str], ids: list[str], counts: dict[str, int]) -> None:
        self.apply(self.prepare(shards, tasks, ids, counts), shards)

    def prepare(self, shards: dict[str, bytes], tasks: list[str], ids: list[str],
                counts: dict[str, int]) -> dict[str, Any]:
        """The commit record for the next sequence number, decided once: `apply` may then be retried after a
        store outage without the retry's record differing from one a lost response already wrote."""
        seq = self.next_seq
        stage = f"{staging_prefix(seq, self.partition)}{uuid.uuid4().hex[:8]}/"
        entries = [{"split": split, "path": shard_key(split, seq, self.partition), "staged": f"{stage}{split}.parquet",
                    "rows": counts[split], "bytes": len(data)} for split, data in shards.items()]
        record = {"seq": seq, "time": time.time(), "shards": entries, "tasks": tasks, "ids": ids, "counts": counts}
        return record | ({"partition": self.partition} if self.partition else {})

    def apply(self, record: dict[str, Any], shards: dict[str, bytes]) -> None:
        """Stage the shards, write the commit record (the commit point), roll the shards into data/.
        Every step is idempotent, so a call that failed part-way can be repeated with the same record."""
        seq = record["seq"]
        for shard in record["shards"]:
            self.store.put(shard["staged"], shards[shard["split"]])
        key, body = commit_key(seq, self.partition), json.dumps(record).encode()
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
        for staged in self.store.list(staging_prefix(seq, self.partition)):
            self.store.delete(staged)  # ours, and any staging that lost the race for this number (or crashed)
        self.commits.append(_slim(record))
        self.completed_tasks.update(record["tasks"])

    def summary(self) -> dict[str, Any]:
        """The manifest's dataset fields: tasks, rows per split (whatever splits the commits carried), shards.
        With other partitions' commits about, every record in the store is read again, so any partition's writer
        writes the whole output's summary."""
        if self._shared:
            return summarize_output(self.store)
        return summarize(self.commits, len(self.completed_tasks))

    def write_manifest(self, extra: dict[str, Any]) -> Manifest:
        """Rebuild manifest.json: `extra` (campaign, config, provenance, ...), the commits, and every run: the
        previous manifest's, the run records', then any in `extra["runs"]` (the later copy of a run wins)."""
        previous = read_manifest_file(self.store)
        given = [RunRecord.model_validate(run) for run in extra.get("runs", [])]
        runs = merge_runs(previous.runs if previous else [], read_run_records(self.store), given)
        for _ in range(5):
            summary = self.summary()
            manifest = Manifest.model_validate({**extra, **summary, "runs": runs, "updated_at": time.time()})
            self.store.put(MANIFEST, manifest.json_bytes())
            # Another partition may have committed after our summary and closed before our put: then ours would
            # hide its last commits, so look again. Whoever writes last has looked after every commit before it.
            if not self._shared or _commit_count(self.store) == summary["commits"]:
                return manifest
        return manifest


def _commit_count(store: ObjectStore) -> int:
    return sum(1 for key in store.list(COMMITS) if COMMIT_NAME.fullmatch(key))


def _slim(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _BULKY}


def summarize_output(store: ObjectStore) -> dict[str, Any]:
    """The dataset fields from every commit record in the store (all partitions), one record in memory at a time;
    a task is committed exactly once, so counting record tasks counts tasks."""
    commits, tasks = [], 0
    for record in iter_commits(store):
        tasks += len(record["tasks"])
        commits.append(_slim(record))
    return summarize(commits, tasks)


def summarize(commits: list[dict[str, Any]], tasks_completed: int) -> dict[str, Any]:
    counts: dict[str, int] = {"accepted": 0, "rejected": 0}
    shards = []
    for record in commits:
        for split, n in record["counts"].items():
            counts[split] = counts.get(split, 0) + n
        where = {"commit": record["seq"]} | ({"partition": record["partition"]} if record.get("partition") else {})
        shards += [{k: s[k] for k in ("path", "split", "rows", "bytes")} | where for s in record["shards"]]
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
    summary = summarize_output(store)
    if not summary["commits"] and not runs:
        return None
    campaign = next((run.campaign for run in reversed(runs) if run.campaign), None)
    return Manifest.model_validate({"campaign": campaign, **summary, "runs": runs})
