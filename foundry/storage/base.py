"""The object-store interface every store implements, apart from the stores themselves (no import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class AlreadyExists(Exception):
    """A conditional put found the key already there (someone committed first)."""


class ObjectStore(Protocol):
    """Keys are `/`-separated paths relative to the store's root; `uri` names the root (no secrets in it).

    `get` returns None for a missing key, `list` returns the sorted keys starting with a string prefix, `copy` of a
    missing source raises FileNotFoundError, and deleting a missing key is not an error. `clean_incomplete` removes
    what writes cut short by a crash left behind (invisible to `get` and `list`, but taking space): a local temp
    file of a writer process that is gone, an S3 multipart upload to a key for which `abandoned(key)` is true.
    """

    uri: str

    def put(self, key: str, data: bytes, if_absent: bool = False) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def list(self, prefix: str) -> list[str]: ...
    def copy(self, src: str, dst: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def clean_incomplete(self, abandoned: Callable[[str], bool]) -> int: ...
