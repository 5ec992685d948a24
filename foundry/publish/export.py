"""Training-ready exports of a campaign output: SFT conversations, preference pairs, RL prompts with pass rates.

Reads only committed shards (the commit records say which), one commit at a time: every sample of a task and its
task-table row are in the same commit, so grouping by task never needs more than one commit in memory. Writes
Hugging Face layout parquet (`data/train-NNNNN.parquet`) in TRL's conversational formats.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from foundry.sampling import BetaPosterior
from foundry.storage.manifest import read_commits, read_manifest
from foundry.storage.shards import MESSAGE, VERDICT
from foundry.storage.uri import ObjectStore, open_store

FORMATS = ("sft", "preference", "rl")
EXPORT_RECORD = "export.json"
_THINK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
_TEXT_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


class ExportError(ValueError):
    """Bad input to an export: the message says which option or which part of the output is wrong."""


@dataclass
class ExportOptions:
    """What to write; the pass-rate band is inclusive and filters tasks in every format."""

    format: str
    min_pass_rate: float | None = None
    max_pass_rate: float | None = None
    drop_reasoning: bool = False
    max_pairs_per_task: int = 1
    rows_per_file: int = 50_000

    def check(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"--format {self.format!r}: expected one of {', '.join(FORMATS)}")
        for name in ("min_pass_rate", "max_pass_rate"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ExportError(f"--{name.replace('_', '-')} {value}: expected a rate between 0 and 1")
        if None not in (self.min_pass_rate, self.max_pass_rate) and self.min_pass_rate > self.max_pass_rate:
            raise ExportError(f"--min-pass-rate {self.min_pass_rate} is above --max-pass-rate {self.max_pass_rate}")
        if self.max_pairs_per_task < 1:
            raise ExportError(f"--max-pairs-per-task {self.max_pairs_per_task}: expected at least 1")

    def in_band(self, rate: float) -> bool:
        return (self.min_pass_rate is None or rate >= self.min_pass_rate) and \
            (self.max_pass_rate is None or rate <= self.max_pass_rate)


@dataclass
class ExportSummary:
    format: str
    source: str
    rows: int = 0
    files: list[str] = field(default_factory=list)
    tasks_seen: int = 0
    tasks_in_band: int = 0
    pass_rate_from: dict[str, int] = field(default_factory=lambda: {"tasks_table": 0, "samples": 0})
    """Tasks whose pass rate came from their `data/tasks-*` row, and those computed from their samples."""
    tasks_without_prompt: int = 0
    """RL: tasks with no committed sample to take the prompt from (only possible when rejected were not kept)."""


# --- reading the output ------------------------------------------------------------------------------------------

@dataclass
class TaskGroup:
    """One task's committed rows: its samples (accepted and rejected) and its task-table row, if any."""

    task_id: str
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    table_row: dict[str, Any] | None = None


def _read(store: ObjectStore, path: str) -> list[dict[str, Any]]:
    data = store.get(path)
    if data is None:
        raise ExportError(f"{store.uri}: a commit record lists {path}, which is missing")
    return pq.read_table(io.BytesIO(data)).to_pylist()


def committed_tasks(store: ObjectStore) -> Iterator[TaskGroup]:
    """Every committed task with its rows, commit by commit, tasks in the order their rows appear."""
    for record in read_commits(store):
        groups: dict[str, TaskGroup] = {}
        for shard in record["shards"]:
            if shard["split"] not in ("accepted", "rejected", "tasks"):
                continue
            for row in _read(store, shard["path"]):
                group = groups.setdefault(row["task_id"], TaskGroup(row["task_id"]))
                if shard["split"] == "tasks":
                    group.table_row = row
                else:
                    getattr(group, shard["split"]).append(row)
        for group in groups.values():
            group.accepted.sort(key=lambda r: r["sample_index"])
            group.rejected.sort(key=lambda r: r["sample_index"])
        yield from groups.values()


def campaign_prior(config: dict[str, Any]) -> BetaPosterior:
    prior = (config.get("sampling_policy") or {}).get("prior") or {}
    return BetaPosterior(float(prior.get("alpha", 1.0)), float(prior.get("beta", 1.0)))


def pass_rate(group: TaskGroup, prior: BetaPosterior, rejected_kept: bool) -> dict[str, Any] | None:
    """The task's pass rate with its 90 % interval: its task-table row when committed, else the Beta posterior of
    its committed samples from the campaign's prior. None when neither can tell (rejected samples not kept)."""
    if group.table_row is not None:
        row = group.table_row
        return {"pass_rate": row["pass_rate"], "pass_rate_lo": row["pass_rate_lo"],
                "pass_rate_hi": row["pass_rate_hi"], "samples": row["samples"], "accepted": row["accepted"],
                "pass_rate_source": "tasks_table"}
    if not rejected_kept:
        return None
    accepted, samples = len(group.accepted), len(group.accepted) + len(group.rejected)
    posterior = prior.update(accepted, samples - accepted)
    lo, hi = posterior.interval()
    return {"pass_rate": posterior.mean, "pass_rate_lo": lo, "pass_rate_hi": hi, "samples": samples,
            "accepted": accepted, "pass_rate_source": "samples"}


# --- rows of each format -----------------------------------------------------------------------------------------

def _clean(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if v is not None or k in ("role", "content")}


def prompt_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation before the model's first turn (system and user messages)."""
    messages = row.get("messages") or []
    if not messages:
        return [{"role": "user", "content": row.get("prompt") or ""}]
    first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    return [_clean(m) for m in messages[:first]]


def completion_messages(row: dict[str, Any], drop_reasoning: bool) -> list[dict[str, Any]]:
    """The model's turns: one assistant message with the reasoning in a <think> block (or without it), or for a
    tool-use rollout every turn after the prompt, think blocks removed from them when asked."""
    messages = row.get("messages") or []
    first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    turns = [_clean(m) for m in messages[first:]]
    if len(turns) > 1 or (turns and turns[0].get("tool_calls")):
        if drop_reasoning:
            turns = [{**m, "content": _THINK.sub("", m["content"])} if m["role"] == "assistant" and m.get("content")
                     else m for m in turns]
        return turns
    answer = row.get("answer") if row.get("answer") is not None else row.get("completion") or ""
    reasoning = row.get("reasoning")
    if reasoning and not drop_reasoning:
        return [{"role": "assistant", "content": f"<think>\n{reasoning.strip()}\n</think>\n\n{answer.lstrip()}"}]
    return [{"role": "assistant", "content": answer if reasoning is not None else _dropped(row, drop_reasoning)}]


def _dropped(row: dict[str, Any], drop_reasoning: bool) -> str:
    """No reasoning was parsed: the answer, or the completion with any think block taken out when dropping."""
    text = row.get("answer") if row.get("answer") is not None else row.get("completion") or ""
    return _THINK.sub("", text) if drop_reasoning else text


def sft_rows(group: TaskGroup, options: ExportOptions) -> list[dict[str, Any]]:
    return [{"messages": prompt_messages(s) + completion_messages(s, options.drop_reasoning), "id": s["id"],
             "task_id": group.task_id} for s in group.accepted]


def pairs(accepted: list[Any], rejected: list[Any], limit: int) -> list[tuple[Any, Any]]:
    """Up to `limit` distinct (accepted, rejected) pairs, spreading use evenly: round j pairs accepted i with
    rejected (i + j) mod R, so every accepted sample is used once before any is used twice."""
    found = [(accepted[i], rejected[(i + j) % len(rejected)]) for j in range(len(rejected))
             for i in range(len(accepted))]
    return found[:limit]


def preference_rows(group: TaskGroup, options: ExportOptions) -> list[dict[str, Any]]:
    rows = []
    for chosen, rejected in pairs(group.accepted, group.rejected, options.max_pairs_per_task):
        rows.append({
            "prompt": prompt_messages(chosen),
            "chosen": completion_messages(chosen, options.drop_reasoning),
            "rejected": completion_messages(rejected, options.drop_reasoning),
            "task_id": group.task_id, "chosen_id": chosen["id"], "rejected_id": rejected["id"],
            "chosen_verdicts": chosen["verdicts"], "rejected_verdicts": rejected["verdicts"],
        })
    return rows


def rl_row(group: TaskGroup, rate: dict[str, Any]) -> dict[str, Any] | None:
    sample = next(iter(group.accepted + group.rejected), None)
    if sample is None:
        return None
    return {"prompt": prompt_messages(sample), "reference": sample.get("reference"), "tests": sample.get("tests"),
            "task_id": group.task_id, **rate}


# --- writing -----------------------------------------------------------------------------------------------------

def _message_type(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pa.DataType:
    """Plain {role, content} messages unless some row has tool calls (then the shards' own message struct)."""
    extra = any(set(m) - {"role", "content"} for row in rows for c in columns for m in row[c])
    return pa.list_(MESSAGE if extra else _TEXT_MESSAGE)


def schema_for(fmt: str, rows: list[dict[str, Any]]) -> pa.Schema:
    if fmt == "sft":
        return pa.schema([("messages", _message_type(rows, ("messages",))), ("id", pa.string()),
                          ("task_id", pa.string())])
    if fmt == "preference":
        messages = _message_type(rows, ("prompt", "chosen", "rejected"))
        return pa.schema([("prompt", messages), ("chosen", messages), ("rejected", messages),
                          ("task_id", pa.string()), ("chosen_id", pa.string()), ("rejected_id", pa.string()),
                          ("chosen_verdicts", pa.list_(VERDICT)), ("rejected_verdicts", pa.list_(VERDICT))])
    return pa.schema([("prompt", _message_type(rows, ("prompt",))), ("reference", pa.string()),
                      ("tests", pa.string()), ("task_id", pa.string()), ("pass_rate", pa.float64()),
                      ("pass_rate_lo", pa.float64()), ("pass_rate_hi", pa.float64()), ("samples", pa.int32()),
                      ("accepted", pa.int32()), ("pass_rate_source", pa.string())])


def _write(dest: ObjectStore, fmt: str, rows: list[dict[str, Any]], number: int) -> str:
    key = f"data/train-{number:05d}.parquet"
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema_for(fmt, rows)), buffer, compression="zstd")
    dest.put(key, buffer.getvalue())
    return key


def export(output_uri: str, dest_uri: str, options: ExportOptions, **store_options: Any) -> ExportSummary:
    """Write `options.format` rows of the output at `output_uri` to `dest_uri` (a folder or s3:// prefix)."""
    options.check()
    try:
        store, dest = open_store(output_uri, **store_options), open_store(dest_uri, **store_options)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    manifest = read_manifest(store)
    if manifest is None:
        raise ExportError(f"{output_uri}: no campaign output here (no manifest.json and no commit records)")
    if dest.list("data/") or dest.get(EXPORT_RECORD) is not None:
        raise ExportError(f"--output {dest_uri}: already holds files under data/; pick an empty folder")
    config = manifest.config or {}
    prior, rejected_kept = campaign_prior(config), (config.get("output") or {}).get("keep_rejected", True)
    summary, buffered = ExportSummary(options.format, store.uri), []
    for group in committed_tasks(store):
        summary.tasks_seen += 1
        rate = pass_rate(group, prior, rejected_kept)
        if rate is None:
            if options.format == "rl" or options.min_pass_rate is not None or options.max_pass_rate is not None:
                raise ExportError(f"{output_uri}: task {group.task_id} has no tasks-table row and rejected samples "
                                  "were not kept (output.keep_rejected: false), so its pass rate is unknown")
        else:
            summary.pass_rate_from[rate["pass_rate_source"]] += 1
            if not options.in_band(rate["pass_rate"]):
                continue
        summary.tasks_in_band += 1
        buffered += _rows(group, rate, options, summary)
        if len(buffered) >= options.rows_per_file:
            summary.files.append(_write(dest, options.format, buffered, len(summary.files)))
            summary.rows, buffered = summary.rows + len(buffered), []
    if buffered or not summary.files:
        summary.files.append(_write(dest, options.format, buffered, len(summary.files)))
        summary.rows += len(buffered)
    dest.put(EXPORT_RECORD, json.dumps({**summary.__dict__, "options": options.__dict__}, indent=2).encode())
    return summary


def _rows(group: TaskGroup, rate: dict[str, Any] | None, options: ExportOptions,
          summary: ExportSummary) -> list[dict[str, Any]]:
    if options.format == "sft":
        return sft_rows(group, options)
    if options.format == "preference":
        return preference_rows(group, options)
    row = rl_row(group, rate)
    summary.tasks_without_prompt += row is None
    return [] if row is None else [row]

