"""Publish a campaign output as a Hugging Face dataset: the committed shards, a redacted manifest and a dataset card.

Only shards the manifest lists are uploaded (never `_foundry/`, staging, or data/ files no commit claims), and the
config dump is redacted before anything is rendered: endpoints, profiles, cluster addresses and environment values
can carry credentials.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import yaml

from foundry.report import cost
from foundry.storage.manifest import MANIFEST, read_manifest
from foundry.storage.shards import SCHEMA
from foundry.storage.uri import ObjectStore, open_store

REDACTED = "<redacted>"
CARD = "README.md"
SPLIT_GLOBS = {"accepted": "data/accepted-*.parquet", "rejected": "data/rejected-*.parquet"}
_SHARD_PATH = re.compile(r"^data/(accepted|rejected)-\d{5,}\.parquet$")
# Keys that say where things run; their values can embed credentials (user:pass@host, a profile, a token in a URL).
_WHERE_KEYS = {"endpoint_url", "profile", "address"}
_SECRET_WORDS = {"secret", "token", "password", "passwd", "apikey", "key", "credential", "credentials", "auth",
                 "authorization", "cookie"}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_USERINFO = re.compile(r"(?<=://)([^/@\s]+)@")
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
}


class NotAnOutput(Exception):
    """The URI holds no campaign output (no manifest), or its manifest lists shards that are not there."""


class PushError(Exception):
    """Publishing failed; the message says at which step and what the Hub answered."""


# --- redaction ---------------------------------------------------------------------------------------------------

def redact_manifest(manifest: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy safe to publish, and the values taken out (so callers can prove none of them leaks anyway)."""
    removed: list[str] = []
    return _redact(manifest, removed), removed


def _redact(value: Any, removed: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: _redact_entry(str(key), item, removed) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, removed) for item in value]
    if isinstance(value, str):
        return _scrub_urls(value, removed)
    return value


def _redact_entry(key: str, value: Any, removed: list[str]) -> Any:
    if value is None:
        return None
    if key == "env" and isinstance(value, dict):  # variable names say what was set; values may be keys
        removed += [str(v) for v in value.values()]
        return {name: REDACTED for name in value}
    # Counts such as `max_tokens` are numbers; a secret-named key holding text or a structure is a credential.
    secret_named = set(key.lower().split("_")) & _SECRET_WORDS and not key.endswith("_env")
    if key in _WHERE_KEYS or (secret_named and not isinstance(value, int | float | bool)):
        removed += _strings(value)
        return REDACTED
    return _redact(value, removed)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def _scrub_urls(text: str, removed: list[str]) -> str:
    """Drop `user:password@` from any URL in the text; from a text that is a URL, also the query and fragment
    (presigned URLs carry their signature there)."""
    def userinfo(match: re.Match) -> str:
        removed.append(match[1])
        return ""

    text = _USERINFO.sub(userinfo, text)
    if _URL.match(text) and ("?" in text or "#" in text):
        head, _, tail = text.partition("#")
        head, _, query = head.partition("?")
        removed += [s for s in (query, tail) if s]
        return head
    return text


# --- the card ----------------------------------------------------------------------------------------------------

def published_shards(manifest: dict[str, Any], include_rejected: bool = True) -> list[dict[str, Any]]:
    """The committed shards to publish, in commit order; a path outside data/<split>-NNNNN.parquet is an error."""
    shards = [s for s in manifest.get("shards", []) if include_rejected or s["split"] == "accepted"]
    for shard in shards:
        if not _SHARD_PATH.match(shard["path"]):
            raise NotAnOutput(f"manifest lists {shard['path']!r}, which is not a data/<split>-NNNNN.parquet shard")
    return shards


def dataset_card(manifest: dict[str, Any], *, repo_id: str | None = None, include_rejected: bool = True) -> str:
    """README.md for the dataset repo: YAML front matter (configs, tags, size) and what the data is and cost."""
    clean, _ = redact_manifest(manifest)
    published = published_shards(clean, include_rejected)
    splits = {s["split"] for s in published}
    configs = [{"config_name": "default", "data_files": [{"split": "train", "path": SPLIT_GLOBS["accepted"]}]}]
    if "rejected" in splits:
        configs.append({"config_name": "rejected",
                        "data_files": [{"split": "train", "path": SPLIT_GLOBS["rejected"]}]})
    rows = clean.get("accepted", 0) + (clean.get("rejected", 0) if "rejected" in splits else 0)
    config = clean.get("config") or {}
    front: dict[str, Any] = {}
    if config.get("license"):
        front["license"] = config["license"]
    front |= {"tags": ["synthetic", "foundry"], "task_categories": ["text-generation"],
              "size_categories": [_size_category(rows)], "configs": configs}
    body = "\n\n".join(section for section in (
        _about(clean), _counts(clean, splits), _cost(clean), _schema(), _loading(repo_id or "<org>/<name>", splits),
        _provenance(clean, published)) if section)
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


def _about(m: dict[str, Any]) -> str:
    config, provenance = m.get("config") or {}, m.get("provenance") or {}
    versions = {v["name"]: v.get("version") for v in provenance.get("verifiers") or []}
    verifiers = [f"`{v.get('name')}` ({v.get('kind')}, version {versions.get(v.get('name'), '?')})"
                 for v in config.get("verifiers") or []]
    sampling = provenance.get("sampling_params") or {k: v for k, v in (config.get("sampling") or {}).items()
                                                     if v is not None}
    source = config.get("source") or {}
    rows = [
        ("campaign", m.get("campaign", "?")),
        ("model", provenance.get("model") or (config.get("engine") or {}).get("model", "?")),
        ("generator", (config.get("generator") or {}).get("kind", "?")),
        ("sampling", ", ".join(f"{k}={json.dumps(v)}" for k, v in sampling.items()) or "-"),
        ("verifiers (in order)", ", ".join(verifiers) or "none"),
        ("acceptance", _acceptance_rule(config.get("acceptance") or {})),
        ("source", source.get("path") or "-"),
        ("config hash", f"`{m.get('config_hash', '?')}`"),
    ]
    return ("# " + str(m.get("campaign", "Foundry dataset")) + "\n\nSynthetic data generated by a model and kept "
            "or rejected by stricter verifiers, produced with Foundry and published by `foundry push`. "
            "The `default` config holds the accepted samples; rejected ones, when published, are in `rejected`, "
            "each with the verdicts that rejected it.\n\n## Campaign\n\n" + _table(("", "value"), rows))


def _counts(m: dict[str, Any], splits: set[str]) -> str:
    figures = cost(m)
    rows = [(name, c["passed"], c["failed"], f"{c['pass_rate']:.1%}") for name, c in figures["verifiers"].items()]
    rate = figures["acceptance_rate"]
    text = (f"## Counts\n\n{m.get('accepted', 0):,} accepted and {m.get('rejected', 0):,} rejected of "
            f"{m.get('samples', 0):,} samples from {m.get('tasks_completed', 0):,} tasks"
            + (f" (acceptance {rate:.1%})." if rate is not None else ".")
            + ("" if "rejected" in splits or not m.get("rejected") else " The rejected ones are not published here."))
    return text + ("\n\n" + _table(("verifier", "passed", "failed", "pass rate"), rows) if rows else "")


def _cost(m: dict[str, Any]) -> str:
    figures = cost(m)
    keys = ("runs", "wall_seconds", "generated_tokens", "tokens_per_second", "gpu_seconds", "replica_seconds",
            "gpu_seconds_per_accepted", "replica_seconds_per_accepted")
    rows = [(key.replace("_", " "), "-" if figures[key] is None else figures[key]) for key in keys]
    return ("## Cost\n\nFrom the run records in `manifest.json` (`foundry report` computes the same figures, and "
            "money ones given a GPU-hour price).\n\n" + _table(("figure", "value"), rows))


def _schema() -> str:
    rows = [(f"`{field.name}`", _type_name(field.type), FIELD_DOCS.get(field.name, "")) for field in SCHEMA]
    return "## Row schema\n\n" + _table(("field", "type", "meaning"), rows)


def _type_name(arrow_type: Any) -> str:
    if pa.types.is_list(arrow_type):
        return f"list<{_type_name(arrow_type.value_type)}>"
    return "struct" if pa.types.is_struct(arrow_type) else str(arrow_type)


def _loading(repo_id: str, splits: set[str]) -> str:
    code = f'from datasets import load_dataset\n\naccepted = load_dataset("{repo_id}", split="train")'
    if "rejected" in splits:
        code += f'\nrejected = load_dataset("{repo_id}", "rejected", split="train")'
    return f"## Loading\n\n```python\n{code}\n```"


def _provenance(m: dict[str, Any], published: list[dict[str, Any]]) -> str:
    versions = (m.get("provenance") or {}).get("versions") or {}
    runs = [(i, _when(r.get("started_at")), round(r.get("wall_seconds", 0), 1), r.get("samples", "-"),
             r.get("tasks_resumed", 0)) for i, r in enumerate(m.get("runs", []))]
    text = ("## Provenance\n\nEvery row carries its own `provenance` (model, engine args, sampling params, config "
            f"hash `{m.get('config_hash', '?')}`, verifier versions). `manifest.json` holds the campaign config "
            "(fields that could hold credentials are redacted, so it does not re-hash to the config hash) and the "
            f"run records. Shards: {len(published)} published of {len(m.get('shards', []))} committed in "
            f"{m.get('commits', 0)} commits; manifest updated "
            f"{_when(m.get('updated_at'))}.")
    if versions:
        text += "\n\nVersions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."
    if runs:
        text += "\n\n" + _table(("run", "started (UTC)", "wall seconds", "samples", "tasks resumed"), runs)
    return text


def _when(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


# --- the upload --------------------------------------------------------------------------------------------------

def push(
    output_uri: str,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    include_rejected: bool = True,
    endpoint: str | None = None,
    endpoint_url: str | None = None,
    files_per_commit: int = 1000,
    read_bytes: int = 2**30,
) -> str:
    """Publish the output at `output_uri` to the dataset repo `repo_id`; returns the URL of the last commit.

    Shards go up `read_bytes` at a time (read from the store, pre-uploaded, freed) and are committed
    `files_per_commit` at a time; the last commit adds the card and manifest and removes shards of an earlier push
    that this one does not list, so the card's globs only ever match what this manifest committed.
    `endpoint` is the Hub (default: huggingface_hub's, which honours HF_ENDPOINT); `endpoint_url` the S3 endpoint.
    """
    try:
        store = open_store(output_uri, endpoint_url=endpoint_url)
    except ValueError as exc:
        raise NotAnOutput(str(exc)) from None
    manifest = read_manifest(store)
    if manifest is None:
        raise NotAnOutput(f"{output_uri}: no manifest.json (not a campaign output, or no commit yet)")
    shards = published_shards(manifest, include_rejected)
    missing = sorted({s["path"] for s in shards} - set(store.list("data/")))
    if missing:
        raise NotAnOutput(f"{output_uri}: the manifest lists shards that are missing: {', '.join(missing)}")
    card = dataset_card(manifest, repo_id=repo_id, include_rejected=include_rejected).encode()
    public = json.dumps(redact_manifest(manifest)[0], indent=2, default=str).encode()
    files = {CARD: card, MANIFEST: public}
    _refuse_leaks(manifest, files, token)

    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    try:
        url = _upload(api, store, repo_id, shards, files, private=private, revision=revision,
                      files_per_commit=files_per_commit, read_bytes=read_bytes,
                      message=f"Publish campaign {manifest.get('campaign', '?')} (foundry push)")
    except NotAnOutput:
        raise
    except Exception as exc:
        raise PushError(_describe(exc, api.endpoint, repo_id)) from exc
    try:
        store.put(CARD, card)  # the output keeps the card it was published with; a read-only output is fine
    except Exception as exc:
        logging.getLogger("foundry").warning("published %s, but could not write %s to %s: %s", url, CARD,
                                             output_uri, exc)
    return url


def _refuse_leaks(manifest: dict[str, Any], files: dict[str, bytes], token: str | None) -> None:
    """Belt and braces: the token never goes into a file, and rows never carry a credential in their provenance.

    The card and manifest are rendered from the redacted manifest only; the shards are published as written, and
    every row's provenance repeats the manifest's, so a secret there (say an `hf_token` in engine.extra_args)
    would be published in every row.
    """
    for name, data in files.items():
        if token and token.encode() in data:
            raise PushError(f"refusing to publish: the Hub token would reach {name}")
    if redact_manifest({"provenance": manifest.get("provenance") or {}})[1]:
        raise PushError("refusing to publish: the rows' provenance (engine args) holds a credential-like value; "
                        "pass secrets through engine.env, which rows never record")


def _upload(api, store: ObjectStore, repo_id: str, shards: list[dict[str, Any]], files: dict[str, bytes], *,
            private: bool, revision: str | None, files_per_commit: int, read_bytes: int, message: str) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    batches = [shards[i:i + files_per_commit] for i in range(0, len(shards), files_per_commit)] or [[]]
    stale = sorted(set(_remote_shards(api, repo_id, revision)) - {s["path"] for s in shards})
    url = ""
    for number, batch in enumerate(batches, 1):
        operations: list[Any] = []
        for group in _groups(batch, read_bytes):
            added = [CommitOperationAdd(s["path"], path_or_fileobj=_shard_bytes(store, s)) for s in group]
            api.preupload_lfs_files(repo_id, additions=added, repo_type="dataset", revision=revision)
            operations += added
        final = number == len(batches)
        if final:
            operations += [CommitOperationDelete(path) for path in stale]
            operations += [CommitOperationAdd(name, path_or_fileobj=data) for name, data in files.items()]
        summary = message if final else f"{message}: shards, part {number} of {len(batches)}"
        url = api.create_commit(repo_id, operations, commit_message=summary, repo_type="dataset",
                                revision=revision).commit_url
    return url


def _remote_shards(api, repo_id: str, revision: str | None) -> list[str]:
    """Shard files already in the repo (from an earlier push), which the card's globs would otherwise pick up."""
    from huggingface_hub.errors import EntryNotFoundError

    try:
        entries = list(api.list_repo_tree(repo_id, path_in_repo="data", repo_type="dataset", revision=revision))
    except EntryNotFoundError:
        return []
    return [e.path for e in entries if _SHARD_PATH.match(e.path)]


def _groups(shards: list[dict[str, Any]], read_bytes: int) -> Iterator[list[dict[str, Any]]]:
    """Runs of shards of at most `read_bytes` together (at least one each): what is held in memory at once."""
    group: list[dict[str, Any]] = []
    size = 0
    for shard in shards:
        if group and size + shard["bytes"] > read_bytes:
            yield group
            group, size = [], 0
        group.append(shard)
        size += shard["bytes"]
    if group:
        yield group


def _shard_bytes(store: ObjectStore, shard: dict[str, Any]) -> bytes:
    data = store.get(shard["path"])
    if data is None:
        raise NotAnOutput(f"{store.uri}: manifest lists {shard['path']} but it is missing")
    if len(data) != shard["bytes"]:
        raise NotAnOutput(f"{store.uri}: {shard['path']} has {len(data)} bytes, the manifest says {shard['bytes']}")
    return data


def _describe(exc: BaseException, endpoint: str, repo_id: str) -> str:
    """One line for people: the HTTP status and the Hub's own message, else the first line of the error."""
    from huggingface_hub.errors import HfHubHTTPError

    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__)
    http = next((e for e in chain if isinstance(e, HfHubHTTPError) and e.response is not None), None)
    if http is not None:
        status, request = http.response.status_code, http.response.request
        detail = (http.server_message or str(http).strip()).strip().splitlines()[0]
        hint = f"; check the token and its write access to {repo_id}" if status in (401, 403) else ""
        return f"pushing to {repo_id}: the Hub answered {status} to {request.method} {request.url}: {detail}{hint}"
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"pushing to {repo_id} at {endpoint}: {type(exc).__name__}: {first}"
