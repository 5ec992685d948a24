"""The dataset card (README.md of the dataset repo): front matter the Hub reads, then what the data is and cost.

Rendered from the redacted manifest only, so nothing a config could hold as a credential reaches it.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import yaml

from foundry.publish.plots import plots_markdown
from foundry.publish.redact import redact_manifest
from foundry.report import cost, percent, when
from foundry.storage.layout import SHARD_NAME, SPLITS
from foundry.storage.records import Manifest, ShardEntry, run_states
from foundry.storage.shards import SCHEMA

_SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
FIELD_DOCS = {
    "id": "deterministic sample id (hash of campaign name, task id and sample index): stable across runs",
    "task_id": "id of the source task the sample answers",
    "sample_index": "which of the task's samples this is (0-based)",
    "prompt": "the prompt text, for tasks given as plain prompts",
    "messages": "chat messages (role, content, tool_calls, tool_call_id, name): the prompt, and for tool use the "
                "whole rollout",
    "completion": "the model's raw output",
    "reasoning": "the text inside the think block, when the completion has one",
    "answer": "the completion after the reasoning block",
    "final_answer": "the extracted final answer (e.g. the last \\boxed{...}) that verifiers compare",
    "answer_source": "which extractor found `final_answer` (`boxed`, `gsm8k_hash`, `answer_is`, `final_answer`, "
                     "`pattern:<i>` for the i-th configured regex, `math_verify` for its last-expression fallback)",
    "reference": "the source task's reference answer",
    "tests": "the source task's tests, as JSON text",
    "verdicts": "one per verifier that ran, cheapest first: verifier, passed, score, reason, seconds",
    "accepted": "whether the acceptance rule accepted the sample (true in `default`, false in `rejected`)",
    "prompt_tokens": "tokens in the prompt",
    "completion_tokens": "tokens the model generated",
    "finish_reason": "why generation stopped (`stop`, `length`, ...)",
    "generation_seconds": "wall time of the generation request",
    "trace": "tool-use trace (calls, results, timings), as JSON text",
    "provenance": "campaign, model, engine args, sampling params, config hash, verifier and package versions, "
                  "replica, creation time",
    "fingerprint": "with sample dedup on: the completion's dedup fingerprint (settings header, exact key, MinHash "
                   "signature), from which a resumed run rebuilds the dedup index",
}


class NotAnOutput(Exception):
    """The URI holds no campaign output (no manifest), or its manifest lists shards that are not there."""


def config_name(split: str) -> str:
    """The Hub config a split is published as: accepted samples are the `default` one."""
    return "default" if split == "accepted" else split


def split_glob(split: str) -> str:
    return f"data/{split}-*.parquet"


def export_glob(fmt: str) -> str:
    return f"{fmt}/train-*.parquet"


def published_shards(manifest: Manifest, include_rejected: bool = True) -> list[ShardEntry]:
    """The committed shards to publish, in commit order; a path outside data/<split>-NNNNN.parquet is an error."""
    shards = [s for s in manifest.shards if include_rejected or s.split != "rejected"]
    for shard in shards:
        if not SHARD_NAME.fullmatch(shard.path):
            raise NotAnOutput(f"manifest lists {shard.path!r}, which is not a data/<split>-NNNNN.parquet shard")
    return shards


def dataset_card(manifest: Manifest, *, repo_id: str | None = None, include_rejected: bool = True,
                 found: dict[str, Any] | None = None, plots: bool = False, exports: dict[str, int] | None = None
                 ) -> str:
    """README.md for the dataset repo: YAML front matter (configs, tags, size) and what the data is and cost.

    `found` (`report.findings`) adds what the quality gates kept out and what reviewers said; `plots` links the
    PNGs that `foundry push` uploads under `plots/` next to the card; `exports` (format -> rows) are the
    training-ready configs uploaded as `<format>/train-*.parquet`."""
    clean, _ = redact_manifest(manifest)
    published = published_shards(clean, include_rejected)
    splits = [split for split in SPLITS if split == "accepted" or any(s.split == split for s in published)]
    exports = exports or {}
    configs = [{"config_name": config_name(split), "data_files": [{"split": "train", "path": split_glob(split)}]}
               for split in splits]
    configs += [{"config_name": fmt, "data_files": [{"split": "train", "path": export_glob(fmt)}]} for fmt in exports]
    rows = clean.accepted + (clean.rejected if "rejected" in splits else 0)
    front: dict[str, Any] = {}
    if (clean.config or {}).get("license"):
        front["license"] = clean.config["license"]
    front |= {"tags": ["synthetic", "foundry"], "task_categories": ["text-generation"],
              "size_categories": [_size_category(rows)], "configs": configs}
    body = "\n\n".join(section for section in (
        _about(clean), _counts(clean, splits), _quality((found or {}).get("quality")),
        _review((found or {}).get("review")), _exports(exports), plots_markdown() if plots else "", _cost(clean),
        _schema(), _loading(repo_id or "<org>/<name>", [*splits, *exports]), _provenance(clean, published))
        if section)
    return f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n{body}\n"


def _size_category(rows: int) -> str:
    return next((name for bound, name in _SIZE_CATEGORIES if rows < bound), "n>1B")


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows])


def _acceptance_rule(acceptance: dict[str, Any]) -> str:
    mode = acceptance.get("mode", "all")
    if mode == "all":
        return "every verifier passes"
    if mode == "any":
        return "at least one verifier passes"
    weights = acceptance.get("weights") or {}
    return f"the weighted mean verifier score reaches {acceptance.get('threshold')} (weights {weights or 'all 1'})"


def _about(m: Manifest) -> str:
    config, provenance = m.config or {}, m.provenance or {}
    versions = {v["name"]: v.get("version") for v in provenance.get("verifiers") or []}
    verifiers = [f"`{v.get('name')}` ({v.get('kind')}, version {versions.get(v.get('name'), '?')})"
                 for v in config.get("verifiers") or []]
    sampling = provenance.get("sampling_params") or {k: v for k, v in (config.get("sampling") or {}).items()
                                                     if v is not None}
    source = config.get("source") or {}
    rows = [
        ("campaign", m.campaign or "?"),
        ("model", provenance.get("model") or (config.get("engine") or {}).get("model", "?")),
        ("generator", (config.get("generator") or {}).get("kind", "?")),
        ("sampling", ", ".join(f"{k}={json.dumps(v)}" for k, v in sampling.items()) or "-"),
        ("verifiers (in order)", ", ".join(verifiers) or "none"),
        ("acceptance", _acceptance_rule(config.get("acceptance") or {})),
        ("source", source.get("path") or "-"),
        ("config hash", f"`{m.config_hash or '?'}`"),
    ]
    return ("# " + (m.campaign or "Foundry dataset") + "\n\nSynthetic data generated by a model and kept "
            "or rejected by stricter verifiers, produced with Foundry and published by `foundry push`. "
            "The `default` config holds the accepted samples; rejected ones, when published, are in `rejected`, "
            "each with the verdicts that rejected it.\n\n## Campaign\n\n" + _table(("", "value"), rows))


def _counts(m: Manifest, splits: list[str]) -> str:
    figures = cost(m)
    rows = [(name, c["passed"], c["failed"], "-" if c["pass_rate"] is None else f"{c['pass_rate']:.1%}")
            for name, c in figures["verifiers"].items()]
    rate = figures["acceptance_rate"]
    text = (f"## Counts\n\n{m.accepted:,} accepted and {m.rejected:,} rejected of {m.samples:,} samples from "
            f"{m.tasks_completed:,} tasks" + (f" (acceptance {rate:.1%})." if rate is not None else ".")
            + ("" if "rejected" in splits or not m.rejected else " The rejected ones are not published here."))
    others = [(f"`{config_name(split)}`", m.counts.get(split, 0)) for split in splits if split not in
              ("accepted", "rejected")]
    if others:
        text += "\n\nOther configs (rows):\n\n" + _table(("config", "rows"), others)
    return text + ("\n\n" + _table(("verifier", "passed", "failed", "pass rate"), rows) if rows else "")


def _quality(quality: dict[str, Any] | None) -> str:
    """Per benchmark (and method) the tasks kept from the GPU and the samples rejected, and the dedup rate."""
    if not quality:
        return ""
    rows = [(f"task excluded ({gate})", key, n) for gate, counts in quality["excluded_tasks"].items()
            for key, n in counts.items()]
    rows += [(f"sample rejected ({gate})", key, n) for gate, counts in quality["rejected_samples"].items()
             for key, n in counts.items()]
    rate = quality.get("sample_dedup_rate") or 0.0
    if not rows:
        return ""
    judge = quality.get("judge") or {}
    judged = (f" An LLM judge was asked about {judge.get('calls', 0):,} gray-zone pairs (a text and its nearest "
              f"benchmark item, close but not decided by n-grams and embeddings) and confirmed "
              f"{judge.get('confirmed', 0):,} (method `judge`).") if judge else ""
    return ("## Quality gates\n\nTasks that leaked a benchmark or repeated another were kept from the GPU (the "
            "`excluded` config says why); samples that did were rejected by the `decontaminate` or `dedup` gate. "
            f"Sample dedup rate: {rate:.2%} of the samples the verifiers passed.{judged}\n\n"
            + _table(("what", "benchmark / method", "count"), rows))


def _review(review: dict[str, Any] | None) -> str:
    """Reviewer agreement (Krippendorff's alpha, overall and per commit) and each verifier against people."""
    if not review:
        return ""
    alpha = review["reviewer_alpha"]
    text = (f"## Expert review\n\n{review['reviews']:,} reviews by {review['reviewers']} people on "
            f"{review['reviewed_samples']:,} samples ({review['multiply_reviewed']:,} reviewed twice or more); "
            "corrections are in the `corrected` config, the events in `reviews`. Reviewer agreement, Krippendorff's "
            f"alpha (nominal, accept/reject): {'undefined' if alpha is None else f'{alpha:.3f}'}.")
    if review["audited"]:
        text += (f" Of {review['audited']:,} accepted samples drawn at random for audit, people kept "
                 f"{review['audit_precision']:.1%}.")
    batches = [(batch, "undefined" if a is None else f"{a:.3f}") for batch, a in
               review["reviewer_alpha_per_batch"].items()]
    if len(batches) > 1:
        text += "\n\n" + _table(("commit", "alpha"), batches)
    rows = [(name, v["passed"], percent(v["precision"]), percent(v.get("audit_precision")), v["reviewed"],
             percent(v["agreement"])) for name, v in review["verifiers"].items()]
    if rows:
        text += ("\n\nEach verifier against people's decision on the same samples (disputed ones left out): "
                 "precision is the share of the samples it passed that people accepted.\n\n"
                 + _table(("verifier", "passed", "precision", "precision on audits", "reviewed", "agreement"),
                          rows))
    return text


_EXPORT_TEXT = {
    "sft": "accepted samples as `messages` conversations (the reasoning kept in its think block), for SFT trainers",
    "preference": "`prompt`, `chosen`, `rejected`: an accepted and a rejected sample of the same task, each with "
                  "its verdicts, for DPO-style trainers",
    "rl": "one row per task: prompt, reference, tests and its pass rate with a 90% interval, for RL (GRPO-style) "
          "trainers",
}


def _exports(exports: dict[str, int]) -> str:
    if not exports:
        return ""
    rows = [(f"`{fmt}`", rows, _EXPORT_TEXT[fmt]) for fmt, rows in exports.items()]
    return ("## Training-ready configs\n\nWritten by `foundry export` from the committed samples (TRL's "
            "conversational formats):\n\n" + _table(("config", "rows", "what"), rows))


def _cost(m: Manifest) -> str:
    figures = cost(m)
    keys = ("runs", "wall_seconds", "generated_tokens", "tokens_per_second", "gpu_seconds", "replica_seconds",
            "gpu_seconds_per_accepted", "replica_seconds_per_accepted")
    rows = [(key.replace("_", " "), "-" if figures[key] is None else figures[key]) for key in keys]
    return ("## Cost\n\nFrom the run records in `manifest.json` (`foundry report` computes the same figures, and "
            "money ones given a GPU-hour price). A run that was killed counts to its last recorded update."
            "\n\n" + _table(("figure", "value"), rows))


def _schema() -> str:
    rows = [(f"`{field.name}`", _type_name(field.type), FIELD_DOCS.get(field.name, "")) for field in SCHEMA]
    return "## Row schema\n\n" + _table(("field", "type", "meaning"), rows)


def _type_name(arrow_type: Any) -> str:
    if pa.types.is_list(arrow_type):
        return f"list<{_type_name(arrow_type.value_type)}>"
    return "struct" if pa.types.is_struct(arrow_type) else str(arrow_type)


def _loading(repo_id: str, splits: list[str]) -> str:
    code = f'from datasets import load_dataset\n\naccepted = load_dataset("{repo_id}", split="train")'
    for split in splits[1:]:
        code += f'\n{split} = load_dataset("{repo_id}", "{config_name(split)}", split="train")'
    return f"## Loading\n\n```python\n{code}\n```"


def _provenance(m: Manifest, published: list[ShardEntry]) -> str:
    versions = (m.provenance or {}).get("versions") or {}
    runs = [(i, when(r.started_at), state, round(r.elapsed_seconds, 1), r.samples, r.tasks_resumed)
            for i, (r, state) in enumerate(zip(m.runs, run_states(m.runs)))]
    text = ("## Provenance\n\nEvery row carries its own `provenance` (model, engine args, sampling params, config "
            f"hash `{m.config_hash or '?'}`, verifier versions). `manifest.json` holds the campaign config "
            "(fields that could hold credentials are redacted, so it does not re-hash to the config hash) and the "
            f"run records. Shards: {len(published)} published of {len(m.shards)} committed in "
            f"{m.commits} commits; manifest updated {when(m.updated_at)}.")
    if versions:
        text += "\n\nVersions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."
    if runs:
        text += "\n\n" + _table(("run", "started (UTC)", "state", "wall seconds", "samples", "tasks resumed"), runs)
    return text
