"""Tasks from a local JSONL / parquet file or a Hugging Face dataset, through a field mapping.

Bad rows (unparseable JSON, no prompt, duplicate ids) are counted with a reason and skipped, never a crash.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundry.config import SourceConfig
from foundry.idset import IdSet
from foundry.types import Task


class SkipReason(str):
    """Why a row could not even be parsed."""


class SourceError(Exception):
    """The source as a whole cannot be read (missing file, unknown dataset)."""


@dataclass
class SourceReport:
    rows: int = 0
    tasks: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def skip(self, row: int, reason: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < 5:
            self.examples.append(f"row {row}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "tasks": self.tasks, "skipped": dict(self.skipped), "examples": self.examples}


def _format(config: SourceConfig) -> str:
    if config.format:
        return config.format
    suffix = Path(config.path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    return "hf"


def read_jsonl(path: str | Path, where: str = "source.path") -> Iterator[tuple[int, Any]]:
    """The one JSONL reader: (line number, parsed value) per non-blank line, or (line number, SkipReason) for a
    line that is not JSON. Undecodable bytes are replaced, never fatal; an unreadable file is a SourceError
    naming `where` (the config field or option that named the file)."""
    try:
        handle = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc.strerror}"
        raise SourceError(f"{where}: {reason} {path}") from None
    with handle:
        for number, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                row = SkipReason(f"invalid JSON ({exc.msg})")
            yield number, row


def _dataset_rows(config: SourceConfig, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import datasets

    try:
        if fmt == "parquet":
            if not Path(config.path).exists():
                raise SourceError(f"source.path: no such file {config.path}")
            dataset = datasets.load_dataset("parquet", data_files=config.path, split="train")
        else:
            dataset = datasets.load_dataset(config.path, config.subset, split=config.split)
    except SourceError:
        raise
    except Exception as exc:  # datasets raises many types for "not found / offline / bad split"
        raise SourceError(f"source: cannot load dataset {config.path!r}: {str(exc).splitlines()[0]}") from None
    yield from enumerate(dataset)


def _task_id(row: dict[str, Any], number: int, config: SourceConfig) -> str:
    task_id = row.get(config.fields.id) if config.fields.id else None
    return str(task_id) if task_id is not None else f"row-{number}"


def _task(row: dict[str, Any], number: int, config: SourceConfig) -> tuple[Task | None, str]:
    names = config.fields
    get = lambda name: row.get(name) if name else None  # noqa: E731
    messages, prompt = get(names.messages), get(names.prompt)
    if messages is not None and not (
        isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m for m in messages)
    ):
        return None, f"malformed {names.messages!r} (expected a list of {{role, content}})"
    if messages is None and not (isinstance(prompt, str) and prompt.strip()):
        return None, f"no prompt ({names.prompt!r}) or messages ({names.messages!r})"
    reference = get(names.reference)
    test_columns = names.tests if isinstance(names.tests, list) else [names.tests]
    tests = {c: row.get(c) for c in test_columns} if isinstance(names.tests, list) else get(names.tests)
    used = {names.id, names.prompt, names.messages, names.reference, *test_columns}
    return (
        Task(
            id=_task_id(row, number, config),
            prompt=prompt if messages is None else None,
            messages=messages,
            reference=None if reference is None else str(reference),
            tests=tests,
            metadata={k: v for k, v in row.items() if k not in used},
        ),
        "",
    )


def check_source(config: SourceConfig) -> None:
    """Fail fast, before any engine starts, when a local source file is missing."""
    if _format(config) != "hf" and not Path(config.path).is_file():
        raise SourceError(f"source.path: no such file {config.path}")


def partition_of(task_id: str, partitions: int) -> int:
    """The partition that owns a task: a hash of its id, the same in every process and on every node."""
    digest = hashlib.blake2b(task_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def load_tasks(config: SourceConfig, report: SourceReport | None = None,
               skip: Callable[[str], bool] | None = None) -> Iterator[Task]:
    """Stream tasks from the configured source; problems go to `report`, not exceptions. `skip(task_id)`: rows
    to pass over before a Task is built (a resumed run's committed tasks, other partitions' tasks), which is
    most of the cost of a row."""
    report = report if report is not None else SourceReport()
    fmt = _format(config)
    rows = read_jsonl(config.path) if fmt == "jsonl" else _dataset_rows(config, fmt)
    seen = IdSet()  # 8 bytes an id: a source of millions of tasks
    for number, row in rows:
        if config.limit is not None and report.rows >= config.limit:
            break
        report.rows += 1
        if not isinstance(row, dict):
            report.skip(number, row if isinstance(row, SkipReason) else "not a JSON object")
            continue
        task_id = _task_id(row, number, config)
        if skip is not None and skip(task_id):
            report.tasks += 1  # passed over: a repeat of its id would be passed over too, so no `seen` for it
            continue
        if task_id in seen:
            report.skip(number, f"duplicate task id {task_id!r}")
            continue
        task, reason = _task(row, number, config)
        if task is None:
            report.skip(number, reason)
            continue
        seen.add(task_id)
        report.tasks += 1
        yield task


def count_rows(config: SourceConfig) -> int | None:
    """Rows the source will yield at most (for progress and ETA), when cheap to know: a local JSONL file's
    non-blank lines, a parquet file's metadata, or `limit`; None when unknown (a hub dataset without a limit)."""
    fmt, path = _format(config), Path(config.path)
    count = None
    try:
        if fmt == "jsonl" and path.is_file():
            with open(path, "rb") as handle:
                count = sum(1 for line in handle if line.strip())
        elif fmt == "parquet" and path.is_file():
            import pyarrow.parquet as pq

            count = pq.ParquetFile(path).metadata.num_rows
    except OSError:
        count = None
    if config.limit is not None:
        return config.limit if count is None else min(count, config.limit)
    return count
