"""`foundry decontaminate` and `foundry dedup`: the campaign's gates over any JSONL or parquet file.

Output (a folder or s3:// prefix): the input rows, each with its `id` (added as `row-N` when the input has none)
plus `contaminated` / `contamination` or `duplicate_of`, as parquet shards under `data/`, and `summary.json`.
Bad input (missing file, missing field, unreadable file, an output that already holds results) is one line and
exit status 2.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

TEXT_FIELDS = ("completion", "text", "prompt", "question", "problem", "content")
"""Tried in order when `--field` is not given (for benchmarks: the same, without `completion`)."""
CHUNK = 256


def _fail(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def parse_benchmark(spec: str) -> tuple[str, str | None]:
    """`PATH[:FIELD]` → (path, field or None); a colon inside the path (no field after it) stays in the path."""
    path, sep, field = spec.rpartition(":")
    if sep and path and field and "/" not in field and "\\" not in field:
        return path, field
    return spec, None


def _pick(row: dict[str, Any], field: str | None, candidates: tuple[str, ...], where: str, path: str) -> str:
    if field is not None:
        if field not in row:
            raise _input_error(f"{where}: {path} has no field {field!r}")
        return field
    for name in candidates:
        if isinstance(row.get(name), str):
            return name
    raise _input_error(f"{where}: {path} has none of the fields {', '.join(candidates)}; name one with "
                       f"{'--field' if where == '--input' else 'PATH:FIELD'}")


def _input_error(message: str) -> Exception:
    from foundry.quality.benchmarks import QualityInputError

    return QualityInputError(message)


class _Rows:
    """Input rows in chunks, the checked field chosen from the first row; lines that are not objects are counted."""

    def __init__(self, path: Path, field: str | None):
        from foundry.quality.benchmarks import read_rows

        self.path, self.skipped, self.examples = path, Counter(), []
        self._rows = read_rows(str(path), where="--input")
        self._objects_left = self._objects()
        self._first = next(self._objects_left, None)
        if self._first is None:
            raise _input_error(f"--input: {path} holds no rows")
        self.field = _pick(self._first[1], field, TEXT_FIELDS, "--input", str(path))

    def _objects(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for number, row in enumerate(self._rows):
            if isinstance(row, dict):
                yield number, row
            else:
                self.skipped[row] += 1
                if len(self.examples) < 5:
                    self.examples.append(f"line {number + 1}: {row}")

    def chunks(self) -> Iterator[list[dict[str, Any]]]:
        chunk = [self._with_id(*self._first)]
        for number, row in self._objects_left:
            chunk.append(self._with_id(number, row))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    @staticmethod
    def _with_id(number: int, row: dict[str, Any]) -> dict[str, Any]:
        return row if row.get("id") is not None else {**row, "id": f"row-{number}"}


class _ShardOut:
    """Rows to `data/rows-NNNNN.parquet` shards of `shard_rows`, then `summary.json` last (its presence means done).
    The added columns have fixed types (`added`), so every shard has them alike even when all their values are null."""

    def __init__(self, output: str, shard_rows: int, added: dict[str, Any]):
        from foundry.storage.uri import open_store

        try:
            self.store = open_store(output)
        except ValueError as exc:
            raise _input_error(f"--output: {exc}") from None
        if self.store.get("summary.json") is not None:
            raise _input_error(f"--output: {output} already holds results; pick a new folder")
        self.shard_rows, self.added, self.buffer, self.keys, self.schema = shard_rows, added, [], [], None

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.buffer += rows
        while len(self.buffer) >= self.shard_rows:
            self._write(self.buffer[: self.shard_rows])
            self.buffer = self.buffer[self.shard_rows :]

    def _write(self, rows: list[dict[str, Any]]) -> None:
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        plain = [{k: v for k, v in r.items() if k not in self.added} for r in rows]
        table = None
        if self.schema is not None and all(set(r) <= set(self.schema.names) for r in plain):
            try:
                table = pa.Table.from_pylist(plain, schema=self.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                table = None  # this shard's values do not fit the first shard's types: it keeps its own
        if table is None:
            table = pa.Table.from_pylist(plain)
            self.schema = self.schema or table.schema
        for name, kind in self.added.items():
            table = table.append_column(pa.field(name, kind), pa.array([r.get(name) for r in rows], type=kind))
        sink = io.BytesIO()
        pq.write_table(table, sink)
        key = f"data/rows-{len(self.keys):05d}.parquet"
        self.store.put(key, sink.getvalue())
        self.keys.append(key)

    def close(self, summary: dict[str, Any]) -> None:
        if self.buffer or not self.keys:
            self._write(self.buffer)
        summary["shards"] = self.keys
        self.store.put("summary.json", json.dumps(summary, indent=2).encode())


def _run(rows: _Rows, sink: _ShardOut, mark: Callable[[list[dict[str, Any]], str], None]) -> tuple[int, float]:
    started, count = time.perf_counter(), 0
    for chunk in rows.chunks():
        mark(chunk, rows.field)
        sink.add(chunk)
        count += len(chunk)
    return count, time.perf_counter() - started


def _contamination_type() -> Any:
    import pyarrow as pa

    return pa.struct([("benchmark", pa.string()), ("item_id", pa.string()), ("method", pa.string()),
                      ("score", pa.float64())])


def _base_summary(rows: _Rows, count: int, seconds: float, input_path: Path) -> dict[str, Any]:
    return {"input": str(input_path), "field": rows.field, "rows": count,
            "skipped": dict(rows.skipped), "skipped_examples": rows.examples, "seconds": round(seconds, 3),
            "rows_per_second": round(count / seconds, 1) if seconds > 0 else None}


def decontaminate_file(benchmarks: list[str], input_path: Path, output: str, field: str | None = None,
                       n: int = 8, threshold: float = 0.5, embedding: bool = True,
                       embedding_threshold: float = 0.85, shard_rows: int = 10_000,
                       judge: Any = None) -> dict[str, Any]:
    """Flag every input row whose field holds a benchmark item; returns the summary (also written). `judge` (with
    the rubric judge's `complete`) confirms gray-zone neighbours of the embedding stage."""
    import pyarrow as pa

    from foundry.quality.benchmarks import load_benchmark, read_rows
    from foundry.quality.decontaminate import Decontaminator
    from foundry.quality.embedding import Embedder
    from foundry.quality.judge import ItemJudge

    rows = _Rows(input_path, field)
    sink = _ShardOut(output, shard_rows, {"contaminated": pa.bool_(), "contamination": _contamination_type()})
    items, names = [], Counter()
    for spec in benchmarks:
        path, text_field = parse_benchmark(spec)
        first = next((r for r in read_rows(path, where="--benchmark") if isinstance(r, dict)), None)
        if first is None:
            raise _input_error(f"--benchmark: {path} holds no rows")
        text_field = _pick(first, text_field, TEXT_FIELDS[1:], "--benchmark", path)
        name = Path(path).stem if Path(path).suffix else path.replace("/", "-")
        names[name] += 1
        name = name if names[name] == 1 else f"{name}-{names[name]}"
        items += load_benchmark(name, path, text_field, where="--benchmark")
    decontaminator = Decontaminator(items, n=n, threshold=threshold,
                                    embedder=Embedder() if embedding else None, embedding_threshold=embedding_threshold,
                                    judge=ItemJudge(judge) if judge is not None and embedding else None)
    found: Counter = Counter()

    def mark(chunk: list[dict[str, Any]], name: str) -> None:
        texts = [r.get(name) if isinstance(r.get(name), str) else None for r in chunk]
        for row, hit in zip(chunk, decontaminator.check_many(texts)):
            row["contaminated"] = hit is not None
            row["contamination"] = hit.as_dict() if hit else None
            if hit:
                found[(hit.benchmark, hit.method)] += 1

    count, seconds = _run(rows, sink, mark)
    by_benchmark: dict[str, dict[str, int]] = {}
    for (bench, method), k in sorted(found.items()):
        by_benchmark.setdefault(bench, {})[method] = k
    summary = {**_base_summary(rows, count, seconds, input_path), "contaminated": sum(found.values()),
               "by_benchmark": by_benchmark, "benchmarks": dict(Counter(i.benchmark for i in items)),
               "settings": {"ngram": n, "threshold": threshold, "embedding": embedding,
                            "embedding_threshold": embedding_threshold}}
    if decontaminator.judge is not None:
        summary["judge"] = {"model": judge.model, **vars(decontaminator.judge.counts)}
    sink.close(summary)
    return summary


def dedup_file(input_path: Path, output: str, field: str | None = None, threshold: float = 0.8,
               mode: str = "near", shard_rows: int = 10_000) -> dict[str, Any]:
    """Mark every input row that repeats an earlier row (in file order) with the id of the kept copy."""
    import pyarrow as pa

    from foundry.quality.dedup import Deduplicator

    rows = _Rows(input_path, field)
    sink = _ShardOut(output, shard_rows, {"duplicate_of": pa.string()})
    dedup = Deduplicator(mode, threshold)
    found: Counter = Counter()

    def mark(chunk: list[dict[str, Any]], name: str) -> None:
        for row in chunk:
            text = row.get(name)
            hit = dedup.check_and_add(str(row["id"]), text) if isinstance(text, str) else None
            row["duplicate_of"] = hit.of if hit else None
            if hit:
                found[hit.method] += 1

    count, seconds = _run(rows, sink, mark)
    duplicates = sum(found.values())
    summary = {**_base_summary(rows, count, seconds, input_path), "duplicates": duplicates,
               "by_method": dict(found), "dedup_rate": round(duplicates / count, 6) if count else 0.0,
               "settings": {"mode": mode, "threshold": threshold}}
    sink.close(summary)
    return summary


InputOpt = Annotated[Path, typer.Option("--input", "-i", help="Rows to check (.jsonl or .parquet); quote a wildcard "
                                        "to read shards as one input ('out/data/accepted-*.parquet').",
                                        show_default=False)]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="Folder (or s3:// prefix) for shards and summary.",
                                        show_default=False)]
FieldOpt = Annotated[str | None, typer.Option(
    "--field", help=f"Column to check (default: the first of {', '.join(TEXT_FIELDS)}).")]


def decontaminate_command(
    benchmark: Annotated[list[str], typer.Option(
        "--benchmark", "-b", help="Benchmark file PATH[:FIELD] (.jsonl / .parquet; repeatable).", show_default=False)],
    input: InputOpt,
    output: OutputOpt,
    field: FieldOpt = None,
    ngram: Annotated[int, typer.Option(min=3, max=64, help="Words per n-gram.")] = 8,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Least n-gram coverage of an item.")] = 0.5,
    embedding: Annotated[bool, typer.Option("--embedding/--no-embedding", help="Semantic stage.")] = True,
    embedding_threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Least cosine to an item.")] = 0.85,
    judge_url: Annotated[str | None, typer.Option(
        help="OpenAI-compatible endpoint (e.g. http://judge:8000/v1) whose model confirms gray-zone neighbours.")] = None,
    judge_model: Annotated[str | None, typer.Option(help="Model name sent to --judge-url.")] = None,
    judge_key_env: Annotated[str, typer.Option(help="Environment variable holding the judge's API key.")] = (
        "OPENAI_API_KEY"),
) -> None:
    """Flag rows that hold benchmark items (n-gram coverage, then embeddings, then an optional LLM judge for the
    gray zone); write shards and a summary."""
    from foundry.errors import InfrastructureError
    from foundry.quality.benchmarks import QualityInputError

    judge = None
    if judge_url or judge_model:
        if not (judge_url and judge_model and embedding):
            _fail("--judge-url and --judge-model go together, and need the embedding stage (no --no-embedding)")
        from foundry.config import JudgeConfig
        from foundry.verifiers.rubric import OpenAIJudge

        judge = OpenAIJudge(JudgeConfig(kind="openai", base_url=judge_url, model=judge_model,
                                        api_key_env=judge_key_env))
    try:
        summary = decontaminate_file(benchmark, input, output, field, ngram, threshold, embedding, embedding_threshold,
                                     judge=judge)
    except QualityInputError as exc:
        _fail(str(exc))
    except InfrastructureError as exc:
        typer.echo(f"error: {exc}; the output is incomplete, run again", err=True)
        raise typer.Exit(1) from None
    keys = ("rows", "contaminated", "by_benchmark", "field", "shards") + (("judge",) if judge else ())
    typer.echo(json.dumps({k: summary[k] for k in keys}))


def dedup_command(
    input: InputOpt,
    output: OutputOpt,
    field: FieldOpt = None,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Least Jaccard of a near duplicate.")] = 0.8,
    exact: Annotated[bool, typer.Option("--exact", help="Exact duplicates only (no MinHash).")] = False,
) -> None:
    """Mark rows that repeat an earlier row (exact hash, then MinHash LSH); write shards and a summary."""
    from foundry.quality.benchmarks import QualityInputError

    try:
        summary = dedup_file(input, output, field, threshold, "exact" if exact else "near")
    except QualityInputError as exc:
        _fail(str(exc))
    typer.echo(json.dumps({k: summary[k] for k in ("rows", "duplicates", "dedup_rate", "field", "shards")}))
