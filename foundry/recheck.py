"""`foundry verify`: re-check an existing set of samples with a campaign's verifiers, generating nothing.

Input rows are samples (JSONL or parquet, e.g. a Foundry output shard or another tool's export): a `completion`
(or chat `messages` ending with the assistant's turn), plus whatever the verifiers need (`reference`, `tests`).
Output has the same layout as a campaign: accepted / rejected shards with verdicts and a manifest.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from foundry.config import CampaignConfig
from foundry.generators.samples import build_sample
from foundry.sources import SourceError, SourceReport, read_jsonl
from foundry.storage.layout import COMMITS, MANIFEST
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import open_store
from foundry.types import Completion, Sample, sample_id


def _rows(path: Path) -> Iterator[Any]:
    if not path.exists():
        raise SourceError(f"--input: no such file {path}")
    if path.suffix == ".parquet":
        yield from pq.read_table(path).to_pylist()
        return
    for _, row in read_jsonl(path, "--input"):
        yield row


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def to_sample(row: dict[str, Any], number: int, config: CampaignConfig) -> Sample:
    """A sample from a row; reasoning and the final answer are re-derived from the text with the config's rules."""
    completion = row.get("completion")
    messages = row.get("messages")
    if completion is None and isinstance(messages, list) and messages and messages[-1].get("role") == "assistant":
        completion = messages[-1].get("content")
    if not isinstance(completion, str):
        raise ValueError("no completion (nor assistant message)")
    task_id = str(row.get("task_id") or row.get("id") or f"row-{number}")
    index = int(row.get("sample_index") or 0)
    reference = row.get("reference", row.get("answer_reference"))
    text = Completion(text=completion, completion_tokens=int(row.get("completion_tokens") or 0),
                      finish_reason=row.get("finish_reason"))
    return build_sample(
        text, config.generator, id=str(row.get("id") or sample_id(config.name, task_id, index)),
        task_id=task_id, sample_index=index, prompt=row.get("prompt"), messages=messages,
        reference=None if reference is None else str(reference), tests=_maybe_json(row.get("tests")),
        prompt_tokens=int(row.get("prompt_tokens") or 0), trace=_maybe_json(row.get("trace")),
        provenance=row.get("provenance") if isinstance(row.get("provenance"), dict) else {},
    )


def recheck(config: CampaignConfig, input_path: Path, output: str, address: str | None = None) -> dict[str, Any]:
    """Verify every row of `input_path` on the verifier pool; write shards and a manifest to `output`."""
    from foundry.cluster.runtime import VerifierPool, init_ray

    report, samples = SourceReport(), []
    for number, row in enumerate(_rows(input_path)):
        report.rows += 1
        try:
            if not isinstance(row, dict):
                raise ValueError(row if isinstance(row, str) else "not an object")
            samples.append(to_sample(row, number, config))
            report.tasks += 1
        except (ValueError, TypeError) as exc:
            report.skip(number, str(exc))
    store = open_store(output)
    if store.get(MANIFEST) is not None or store.list(COMMITS):
        raise SourceError(f"--output: {output} already holds results; pick a new folder")
    init_ray(config.cluster, address)
    pool = VerifierPool(config, config.cluster.verifier_workers)
    started = time.time()
    try:
        batches = [samples[i : i + 16] for i in range(0, len(samples), 16)]
        results = asyncio.run(_verify_all(pool, batches, config.cluster.verify_timeout_seconds))
        versions = pool.versions()
    finally:
        pool.shutdown()
    checked = [s.model_copy(update={"verdicts": v, "accepted": ok})
               for batch, verdicts in zip(batches, results) for s, (v, ok, _) in zip(batch, verdicts)]
    summary = _summary(checked, report, time.time() - started, versions)
    with ShardWriter(store, max_rows=config.output.shard_max_rows, manifest_extra={"recheck": summary}) as writer:
        for sample in checked:
            writer.add_task(sample.id, [sample])
    store.put("summary.json", json.dumps(summary, indent=2).encode())
    return summary


async def _verify_all(pool: Any, batches: list[list[Sample]], timeout: float) -> list[Any]:
    return await asyncio.gather(*(pool.verify(batch, timeout) for batch in batches))


def _summary(samples: list[Sample], report: SourceReport, seconds: float, versions: Any) -> dict[str, Any]:
    per_verifier: dict[str, dict[str, int]] = {}
    reasons: dict[str, int] = {}
    for sample in samples:
        for verdict in sample.verdicts:
            counts = per_verifier.setdefault(verdict.verifier, {"passed": 0, "failed": 0})
            counts["passed" if verdict.passed else "failed"] += 1
            if not verdict.passed:
                key = f"{verdict.verifier}: {verdict.reason[:60]}"
                reasons[key] = reasons.get(key, 0) + 1
    accepted = sum(s.accepted for s in samples)
    return {
        "input": report.as_dict(), "samples": len(samples), "accepted": accepted, "rejected": len(samples) - accepted,
        "verifiers": per_verifier, "verifier_versions": versions, "seconds": round(seconds, 3),
        "top_rejection_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:10]),
    }
