"""Credentials out of anything published: endpoints, profiles, cluster addresses and environment values in the
config dump, `user:password@` and presigned queries in any URL."""

from __future__ import annotations

import re
from typing import Any

from foundry.storage.records import Manifest

REDACTED = "<redacted>"
# Keys that say where things run; their values can embed credentials (user:pass@host, a profile, a token in a URL).
_WHERE_KEYS = {"endpoint_url", "profile", "address"}
_SECRET_WORDS = {"secret", "token", "password", "passwd", "apikey", "key", "credential", "credentials", "auth",
                 "authorization", "cookie"}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_USERINFO = re.compile(r"(?<=://)([^/@\s]+)@")
# The free-form parts of a manifest (typed fields are numbers, ids and shard names, which carry no credential).
_FREE_FORM = ("config", "provenance", "recheck", "stages")
_FREE_FORM_RUN = ("source", "nodes", "failures")


def redact_manifest(manifest: Manifest) -> tuple[Manifest, list[str]]:
    """A copy safe to publish, and the values taken out (so callers can prove none of them leaks anyway)."""
    removed: list[str] = []
    data = manifest.model_dump(mode="json")
    for name in _FREE_FORM:
        data[name] = redact(data[name], removed)
    for run in data["runs"]:
        for name in _FREE_FORM_RUN:
            run[name] = redact(run[name], removed)
    return Manifest.model_validate(data), removed


def redact(value: Any, removed: list[str]) -> Any:
    """`value` with credential-like entries replaced by `REDACTED`; what was taken out is appended to `removed`."""
    if isinstance(value, dict):
        return {key: _redact_entry(str(key), item, removed) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, removed) for item in value]
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
    return redact(value, removed)


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
