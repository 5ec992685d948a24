"""Benchmark items (and any row file) read through a field mapping: local JSONL / parquet, or `datasets` (hf).

A file that cannot be read, or that lacks a mapped field, is a `QualityInputError` naming the file and the field:
the CLI turns it into one line and exit status 2.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundry.sources import SourceError


class QualityInputError(SourceError):
    """A benchmark or input file that cannot be used as given (missing, unreadable, lacks a field)."""


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark row: its id, the text to look for and optionally its answer (also looked for)."""

    benchmark: str
    item_id: str
    text: str
    answer: str | None = None


def file_format(path: str, declared: str | None = None) -> str:
    if declared:
        return declared
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    return "hf"


def read_rows(path: str, fmt: str | None = None, where: str = "--input", split: str = "test",
              subset: str | None = None) -> Iterator[dict[str, Any] | str]:
    """Rows of a file as dicts; a JSONL line that is not a JSON object comes out as a string saying why. A path
    with wildcards (`out/data/accepted-*.parquet`, a sharded dump) reads every file it matches, in name order."""
    if any(c in path for c in "*?["):
        files = sorted(glob.glob(path))
        if not files:
            raise QualityInputError(f"{where}: no file matches {path}")
        for file in files:
            yield from read_rows(file, fmt, where, split, subset)
        return
    fmt = file_format(path, fmt)
    if fmt != "hf" and not Path(path).is_file():
        raise QualityInputError(f"{where}: no such file {path}")
    if fmt == "jsonl":
        yield from _jsonl(path, where)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a file that is not parquet
            raise QualityInputError(f"{where}: cannot read {path} as parquet: {_first_line(exc)}") from None
        for batch in parquet.iter_batches(batch_size=4096):
            yield from batch.to_pylist()
    else:
        yield from _dataset(path, where, split, subset)


def _jsonl(path: str, where: str) -> Iterator[dict[str, Any] | str]:
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise QualityInputError(f"{where}: cannot read {path}: {exc.strerror}") from None
    with handle:
        try:
            for line in handle:
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        row = f"invalid JSON ({exc.msg})"
                    yield row if isinstance(row, dict | str) else "not a JSON object"
        except UnicodeDecodeError:
            raise QualityInputError(f"{where}: cannot read {path}: not UTF-8 text") from None


def _dataset(name: str, where: str, split: str, subset: str | None) -> Iterator[dict[str, Any]]:
    import datasets

    try:
        dataset = datasets.load_dataset(name, subset, split=split)
    except Exception as exc:  # datasets raises many types for "not found / offline / bad split"
        raise QualityInputError(f"{where}: cannot load dataset {name!r}: {_first_line(exc)}") from None
    yield from dataset


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def load_benchmark(name: str, path: str, text: str, answer: str | None = None, id_field: str | None = None,
                   fmt: str | None = None, where: str = "--benchmark", split: str = "test",
                   subset: str | None = None) -> list[BenchmarkItem]:
    """All items of one benchmark; the mapped fields must exist in its first row. Without an id field, an `id` or
    `task_id` column is used when there is one, else the row number."""
    items: list[BenchmarkItem] = []
    for number, row in enumerate(read_rows(path, fmt, where, split, subset)):
        if not isinstance(row, dict):
            raise QualityInputError(f"{where}: {path} line {number + 1}: {row}")
        if not items:
            for label, field in (("text", text), ("answer", answer), ("id", id_field)):
                if field is not None and field not in row:
                    raise QualityInputError(f"{where}: {path} has no field {field!r} (fields.{label})")
        value = row.get(text)
        if not isinstance(value, str) or not value.strip():
            continue
        item_id = row.get(id_field) if id_field else row.get("id", row.get("task_id"))
        extra = row.get(answer) if answer else None
        items.append(BenchmarkItem(name, str(item_id) if item_id is not None else str(number), value,
                                   extra if isinstance(extra, str) and extra.strip() else None))
    if not items:
        raise QualityInputError(f"{where}: {path} has no rows with text in {text!r}")
    return items
