"""Publish a campaign output as a Hugging Face dataset: the committed shards, a redacted manifest and a dataset card.

Only shards the manifest lists are uploaded (never `_foundry/`, staging, or data/ files no commit claims), and the
config dump is redacted before anything is rendered: endpoints, profiles, cluster addresses and environment values
can carry credentials.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from foundry.publish.card import FIELD_DOCS, NotAnOutput, dataset_card, published_shards
from foundry.publish.export import FORMATS, ExportError, ExportOptions, ExportSummary, export
from foundry.publish.plots import render_plots
from foundry.publish.redact import REDACTED, redact_manifest
from foundry.report import findings
from foundry.storage.layout import MANIFEST, SHARD_NAME
from foundry.storage.manifest import ManifestError, read_manifest
from foundry.storage.records import Manifest, ShardEntry
from foundry.storage.uri import ObjectStore, open_store

__all__ = ["CARD", "FIELD_DOCS", "REDACTED", "NotAnOutput", "PushError", "dataset_card", "published_shards", "push",
           "redact_manifest"]

CARD = "README.md"
EXPORT_FILE = re.compile(rf"(?:{'|'.join(FORMATS)})/train-\d{{5,}}\.parquet")
"""A file of a published export: `<format>/train-NNNNN.parquet` (the export's own data/ file names)."""
PLOTS_FOLDER = "plots/"
"""Where the card's PNGs go, in the dataset repo and in the output (the card links them relative to itself)."""


class PushError(Exception):
    """Publishing failed; the message says at which step and what the Hub answered."""


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
    exports: list[ExportOptions] | None = None,
) -> str:
    """Publish the output at `output_uri` to the dataset repo `repo_id`; returns the URL of the last commit.

    Shards go up `read_bytes` at a time (read from the store, pre-uploaded, freed) and are committed
    `files_per_commit` at a time; the last commit adds the card and manifest and removes shards of an earlier push
    that this one does not list, so the card's globs only ever match what this manifest committed.
    `endpoint` is the Hub (default: huggingface_hub's, which honours HF_ENDPOINT); `endpoint_url` the S3 endpoint.
    `exports` (sft, preference, rl) are written to a temporary folder and published as configs of those names.
    """
    try:
        store = open_store(output_uri, endpoint_url=endpoint_url)
    except ValueError as exc:
        raise NotAnOutput(str(exc)) from None
    try:
        manifest = read_manifest(store)
    except ManifestError as exc:
        raise NotAnOutput(str(exc)) from None
    if manifest is None:
        raise NotAnOutput(f"{output_uri}: no manifest.json (not a campaign output, or no commit yet)")
    shards = published_shards(manifest, include_rejected)
    missing = sorted({s.path for s in shards} - set(store.list("data/")))
    if missing:
        raise NotAnOutput(f"{output_uri}: the manifest lists shards that are missing: {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="foundry-push-") as folder:
        exported = _export(output_uri, exports or [], Path(folder), endpoint_url)
        images = {f"{PLOTS_FOLDER}{name}": png for name, png in render_plots(store).items()}
        card = dataset_card(manifest, repo_id=repo_id, include_rejected=include_rejected,
                            found=findings(store, manifest), plots=True,
                            exports={fmt: s.rows for fmt, (s, _) in exported.items()}).encode()
        public = redact_manifest(manifest)[0].json_bytes()
        files = {CARD: card, MANIFEST: public, **images}
        _refuse_leaks(manifest, files, token)
        uploads = [Upload(s.path, s.bytes, partial(_shard_bytes, store, s)) for s in shards]
        uploads += [upload for _, export_uploads in exported.values() for upload in export_uploads]

        from huggingface_hub import HfApi

        api = HfApi(endpoint=endpoint, token=token)
        try:
            url = _upload(api, repo_id, uploads, files, private=private, revision=revision,
                          files_per_commit=files_per_commit, read_bytes=read_bytes,
                          message=f"Publish campaign {manifest.campaign or '?'} (foundry push)")
        except NotAnOutput:
            raise
        except Exception as exc:
            raise PushError(_describe(exc, api.endpoint, repo_id)) from exc
    try:  # the output keeps the card it was published with, and its plots; a read-only output is fine
        for name, data in {**images, CARD: card}.items():
            store.put(name, data)
    except Exception as exc:
        logging.getLogger("foundry").warning("published %s, but could not write the card and plots to %s: %s", url,
                                             output_uri, exc)
    return url


def _refuse_leaks(manifest: Manifest, files: dict[str, bytes], token: str | None) -> None:
    """Belt and braces: the token never goes into a file, and rows never carry a credential in their provenance.

    The card and manifest are rendered from the redacted manifest only; the shards are published as written, and
    every row's provenance repeats the manifest's, so a secret there (say an `hf_token` in engine.extra_args)
    would be published in every row.
    """
    for name, data in files.items():
        if token and token.encode() in data:
            raise PushError(f"refusing to publish: the Hub token would reach {name}")
    if redact_manifest(Manifest(provenance=manifest.provenance))[1]:
        raise PushError("refusing to publish: the rows' provenance (engine args) holds a credential-like value; "
                        "pass secrets through engine.env, which rows never record")


@dataclass(frozen=True)
class Upload:
    """A file for the repo, read only when its batch goes up (a campaign's shards never sit in memory at once)."""

    path: str
    size: int
    read: Callable[[], bytes]


def _export(output_uri: str, exports: list[ExportOptions], folder: Path,
            endpoint_url: str | None) -> dict[str, tuple[ExportSummary, list[Upload]]]:
    """Each export written under `folder`, its files to publish as `<format>/train-NNNNN.parquet`."""
    exported = {}
    for options in exports:
        try:
            summary = export(output_uri, str(folder / options.format), options,
                             **({"endpoint_url": endpoint_url} if endpoint_url else {}))
        except ExportError as exc:
            raise NotAnOutput(f"export {options.format}: {exc}") from None
        files = [folder / options.format / key for key in summary.files]
        exported[options.format] = (summary, [Upload(f"{options.format}/{file.name}", file.stat().st_size,
                                                     file.read_bytes) for file in files])
    return exported


def _upload(api, repo_id: str, uploads: list[Upload], files: dict[str, bytes], *, private: bool,
            revision: str | None, files_per_commit: int, read_bytes: int, message: str) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    batches = [uploads[i:i + files_per_commit] for i in range(0, len(uploads), files_per_commit)] or [[]]
    stale = sorted(set(_remote_data(api, repo_id, revision)) - {u.path for u in uploads})
    url = ""
    for number, batch in enumerate(batches, 1):
        operations: list[Any] = []
        for group in _groups(batch, read_bytes):
            added = [CommitOperationAdd(u.path, path_or_fileobj=u.read()) for u in group]
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


def _remote_data(api, repo_id: str, revision: str | None) -> list[str]:
    """Shards and export files already in the repo (from an earlier push), which the card's globs would otherwise
    pick up: the top level first, then only the folders a push writes."""
    from huggingface_hub.errors import EntryNotFoundError
    from huggingface_hub.hf_api import RepoFolder

    def tree(folder: str | None) -> list[Any]:
        try:
            return list(api.list_repo_tree(repo_id, path_in_repo=folder, repo_type="dataset", revision=revision))
        except EntryNotFoundError:
            return []

    folders = [e.path for e in tree(None) if isinstance(e, RepoFolder) and e.path in ("data", *FORMATS)]
    return [e.path for folder in folders for e in tree(folder)
            if SHARD_NAME.fullmatch(e.path) or EXPORT_FILE.fullmatch(e.path)]


def _groups(uploads: list[Upload], read_bytes: int) -> Iterator[list[Upload]]:
    """Runs of files of at most `read_bytes` together (at least one each): what is held in memory at once."""
    group: list[Upload] = []
    size = 0
    for upload in uploads:
        if group and size + upload.size > read_bytes:
            yield group
            group, size = [], 0
        group.append(upload)
        size += upload.size
    if group:
        yield group


def _shard_bytes(store: ObjectStore, shard: ShardEntry) -> bytes:
    data = store.get(shard.path)
    if data is None:
        raise NotAnOutput(f"{store.uri}: manifest lists {shard.path} but it is missing")
    if len(data) != shard.bytes:
        raise NotAnOutput(f"{store.uri}: {shard.path} has {len(data)} bytes, the manifest says {shard.bytes}")
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
