"""Object stores behind one small interface: a local folder or an `s3://bucket/prefix`.

Every write is atomic (readers see a whole object or none), and `put(..., if_absent=True)` is the one conditional
write the commit protocol needs: an S3 `If-None-Match: *` put, or a hard link on a local filesystem.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from foundry.storage.base import AlreadyExists, ObjectStore

__all__ = ["AlreadyExists", "LocalStore", "ObjectStore", "open_store"]


_TEMP = ".tmp-"
STALE_TEMP_SECONDS = 3600.0
"""A temp file another machine left on a shared filesystem counts as abandoned once untouched this long: its pid
cannot be checked from here, and a put writes its temp file in one go, in seconds."""


def _writer_gone(path: Path) -> bool:
    """A temp file named `.tmp-<host>-<pid>-<random>` whose writer no longer runs: on this host, its pid is gone;
    on another host (a shared filesystem), it has not been written to for `STALE_TEMP_SECONDS`."""
    parts = path.name[len(_TEMP):].rsplit("-", 2)  # mkstemp's random suffix has no "-"; a host name may
    if len(parts) != 3 or not parts[1].isdigit():
        return False  # not ours at all
    if parts[0] != socket.gethostname():
        try:
            return time.time() - path.stat().st_mtime > STALE_TEMP_SECONDS
        except FileNotFoundError:
            return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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
        # Host and pid in the name: a writer killed mid-put leaves a temp file `clean_incomplete` knows is dead.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_TEMP}{socket.gethostname()}-{os.getpid()}-")
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
        files = (p for p in base.rglob("*") if p.is_file() and not p.name.startswith(_TEMP))
        return sorted(k for k in (p.relative_to(self.root).as_posix() for p in files) if k.startswith(prefix))

    def copy(self, src: str, dst: str) -> None:
        self.put(dst, self._path(src).read_bytes())

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def clean_incomplete(self, abandoned: Callable[[str], bool]) -> int:
        """Delete temp files of dead writers (their key is unknown, so `abandoned` is not asked)."""
        removed = 0
        for path in self.root.rglob(f"{_TEMP}*"):
            if path.is_file() and _writer_gone(path):
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def open_store(uri: str, endpoint_url: str | None = None, region: str | None = None, profile: str | None = None,
               **s3_options: Any):
    """The store for a local path or an `s3://bucket/prefix` URI (`s3_options`: see `S3Store`)."""
    if uri.startswith("s3://"):
        from foundry.storage.s3 import S3Store

        return S3Store(uri, endpoint_url=endpoint_url, region=region, profile=profile, **s3_options)
    if "://" in uri:
        raise ValueError(f"unsupported output URI {uri!r}: use a local path or s3://bucket/prefix")
    return LocalStore(uri)
