"""The ObjectStore contract, run against a local folder and a real S3 server (the `store` fixture)."""

from __future__ import annotations

import pickle
import threading

import pytest

from foundry.storage.s3 import S3Store
from foundry.storage.uri import AlreadyExists, LocalStore, open_store


def test_put_then_get_returns_the_bytes_and_missing_keys_are_none(store):
    store.put("a/b/c.json", b'{"x": 1}')
    assert store.get("a/b/c.json") == b'{"x": 1}'
    assert store.get("a/b/missing.json") is None
    assert store.get("nowhere") is None


def test_plain_put_overwrites_but_conditional_put_never_does(store):
    store.put("k", b"one")
    store.put("k", b"two")
    with pytest.raises(AlreadyExists):
        store.put("k", b"three", if_absent=True)
    assert store.get("k") == b"two"
    store.put("fresh", b"first", if_absent=True)
    assert store.get("fresh") == b"first"


def test_racing_conditional_puts_have_exactly_one_winner(store):
    winners, start = [], threading.Barrier(6)

    def claim(n: int) -> None:
        start.wait()
        try:
            store.put("_foundry/commits/00000.json", f"writer {n}".encode(), if_absent=True)
            winners.append(n)
        except AlreadyExists:
            pass

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert store.get("_foundry/commits/00000.json") == f"writer {winners[0]}".encode()


def test_readers_see_a_whole_object_or_the_previous_one(store):
    versions = [bytes([65 + n]) * 2**20 for n in range(4)]
    store.put("shard.parquet", versions[0])
    done = threading.Event()

    def overwrite() -> None:
        for version in versions[1:] * 3:
            store.put("shard.parquet", version)
        done.set()

    writer = threading.Thread(target=overwrite)
    writer.start()
    seen = set()
    while not done.is_set():
        seen.add(store.get("shard.parquet"))
    writer.join()
    assert seen <= set(versions)


def test_list_matches_string_prefixes_and_sorts(store):
    keys = ["data/rejected-00001.parquet", "data/accepted-00001.parquet", "datasets.txt",
            "_foundry/staging/00001-aa/accepted.parquet", "_foundry/staging/00012-bb/accepted.parquet"]
    for key in keys:
        store.put(key, b"x")
    assert store.list("data/") == ["data/accepted-00001.parquet", "data/rejected-00001.parquet"]
    assert store.list("_foundry/staging/00001-") == ["_foundry/staging/00001-aa/accepted.parquet"]
    assert store.list("data") == sorted(keys[:3])
    assert store.list("") == sorted(keys)
    assert store.list("nothing/") == []


def test_copy_then_delete(store):
    store.put("_foundry/staging/00000-x/accepted.parquet", b"rows")
    store.copy("_foundry/staging/00000-x/accepted.parquet", "data/accepted-00000.parquet")
    assert store.get("data/accepted-00000.parquet") == b"rows"
    store.delete("_foundry/staging/00000-x/accepted.parquet")
    store.delete("_foundry/staging/00000-x/accepted.parquet")  # deleting twice is fine (resume repeats work)
    assert store.list("_foundry/") == []
    with pytest.raises(FileNotFoundError):
        store.copy("_foundry/staging/00000-x/accepted.parquet", "data/other.parquet")


def test_a_store_survives_pickling(store):
    """Stores cross process boundaries (Ray workers); the copy reaches the same objects."""
    store.put("k", b"v")
    assert pickle.loads(pickle.dumps(store)).get("k") == b"v"


def test_open_store_picks_the_store_from_the_uri(tmp_path):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    s3 = open_store("s3://bucket/some/prefix", endpoint_url="http://127.0.0.1:1", region="us-east-1")
    assert isinstance(s3, S3Store) and s3.uri == "s3://bucket/some/prefix"
    with pytest.raises(ValueError, match="gs://b"):
        open_store("gs://b/p")
