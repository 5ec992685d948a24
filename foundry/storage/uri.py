"""Object stores behind one small interface: a local folder or an `s3://bucket/prefix`.

Every write is atomic (readers see a whole object or none), and `put(..., if_absent=True)` is the one conditional
write the commit protocol needs: an S3 `If-None-Match: *` put, or a hard link on a local filesystem.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol


class AlreadyExists(Exception):
    """A conditional put found the key already there (someone committed first)."""


class ObjectStore(Protocol):
    """Keys are `/`-separated paths relative to the store's root; `uri` names the root (no secrets in it).

    `get` returns None for a missing key, `list` returns the sorted keys starting with a string prefix, `copy` of a
    missing source raises FileNotFoundError, and deleting a missing key is not an error.
    """

    uri: str

    def put(self, key: str, data: bytes, if_absent: bool = False) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def list(self, prefix: str) -> list[str]: ...
    def copy(self, src: str, dst: str) -> None: ...
    def delete(self, key: str) -> None: ...


class LocalStore:
    """A folder on a local (or shared POSIX) filesystem; atomic by write-to-temp then rename/link."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes, if_absent: bool = False) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if if_absent:
                try:
                    os.link(tmp, path)  # fails if the key exists: the local analogue of If-None-Match
                except FileExistsError:
                    raise AlreadyExists(key) from None
            else:
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def list(self, prefix: str) -> list[str]:
        """Keys that start with `prefix` (a plain string prefix, as in S3, not only a folder), sorted."""
        base = self._path(prefix) if prefix.endswith("/") or not prefix else self._path(prefix).parent
        if not base.is_dir():
            return []
        files = (p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
        return sorted(k for k in (p.relative_to(self.root).as_posix() for p in files) if k.startswith(prefix))

    def copy(self, src: str, dst: str) -> None:
        self.put(dst, self._path(src).read_bytes())

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def open_store(uri: str, endpoint_url: str | None = None, region: str | None = None, profile: str | None = None):
    """The store for a local path or an `s3://bucket/prefix` URI."""
    if uri.startswith("s3://"):
        from foundry.storage.s3 import S3Store

        return S3Store(uri, endpoint_url=endpoint_url, region=region, profile=profile)
    if "://" in uri:
        raise ValueError(f"unsupported output URI {uri!r}: use a local path or s3://bucket/prefix")
    return LocalStore(uri)
