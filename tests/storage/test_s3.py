"""S3Store beyond the shared contract: URIs and prefixes, secrets, large objects, errors, retries, a server restart."""

from __future__ import annotations

import pickle
import threading
import time

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from fixtures.crash_writer import assert_exactly_once, write_tasks

from foundry.storage.manifest import COMMITS
from foundry.storage.s3 import S3Store, split_s3_uri
from foundry.storage.uri import AlreadyExists


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://b/p", ("b", "p")), ("s3://b/p/q/", ("b", "p/q")), ("s3://b", ("b", "")), ("s3://b/", ("b", ""))],
)
def test_split_s3_uri(uri, expected):
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3:///prefix", "http://b/p", "b/p"])
def test_split_s3_uri_rejects_non_s3(uri):
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        split_s3_uri(uri)


def test_no_secret_in_repr_or_pickle(s3_server, s3_uri):
    store = S3Store(s3_uri, endpoint_url=s3_server.endpoint_url, profile=None)
    store.put("k", b"v")  # the client has resolved its credentials by now
    assert repr(store) == f"S3Store({s3_uri!r}, endpoint_url={s3_server.endpoint_url!r}, region=None, profile=None)"
    for text in (repr(store), str(vars(store)), pickle.dumps(store).decode("latin-1")):
        assert s3_server.secret_key not in text and s3_server.access_key not in text


def test_output_config_sets_retry_mode_attempts_and_multipart_threshold(s3_server, s3_uri):
    from foundry.config import OutputConfig
    from foundry.storage.uri import open_store

    output = OutputConfig(path=s3_uri, endpoint_url=s3_server.endpoint_url, retry_mode="adaptive", max_attempts=4,
                          multipart_threshold_bytes=8 * 2**20)
    store = open_store(output.path, **output.store_options())
    for client in (store._client, pickle.loads(pickle.dumps(store))._client):  # as a Ray worker rebuilds it
        assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 4}
    assert store._transfer.multipart_threshold == 8 * 2**20
    store.put("k", b"v")
    assert store.get("k") == b"v"


def test_keys_are_relative_to_the_prefix_and_never_reach_a_sibling(s3_server, s3_uri):
    store = S3Store(s3_uri, endpoint_url=s3_server.endpoint_url)
    sibling = S3Store(s3_uri + "-sibling", endpoint_url=s3_server.endpoint_url)
    store.put("data/a.parquet", b"a")
    sibling.put("data/b.parquet", b"b")
    assert store.list("") == ["data/a.parquet"]
    assert sibling.list("data/") == ["data/b.parquet"]
    prefix = s3_uri.split("/", 3)[3]
    assert s3_server.client().get_object(Bucket=s3_server.bucket, Key=f"{prefix}/data/a.parquet")["Body"].read() == b"a"


def test_a_whole_bucket_as_the_output(s3_server, s3_uri):
    bucket = s3_server.make_bucket()
    store = S3Store(f"s3://{bucket}/", endpoint_url=s3_server.endpoint_url)
    store.put("manifest.json", b"{}", if_absent=True)
    assert store.uri == f"s3://{bucket}" and store.list("") == ["manifest.json"]


def test_large_objects_go_up_and_are_copied_in_parts(s3_server, s3_uri):
    store = S3Store(s3_uri, endpoint_url=s3_server.endpoint_url, multipart_threshold=5 * 2**20)
    data = bytes(range(256)) * (11 * 2**20 // 256)  # 11 MiB: three parts
    store.put("data/big.parquet", data)
    store.copy("data/big.parquet", "data/big-copy.parquet")
    assert store.get("data/big.parquet") == data and store.get("data/big-copy.parquet") == data
    prefix = s3_uri.split("/", 3)[3]
    for key in ("data/big.parquet", "data/big-copy.parquet"):
        etag = s3_server.client().head_object(Bucket=s3_server.bucket, Key=f"{prefix}/{key}")["ETag"]
        assert etag.strip('"').endswith("-3"), etag  # a multipart ETag names its part count


def test_wrong_keys_fail_loudly(s3_server, s3_uri, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = S3Store(s3_uri, endpoint_url=s3_server.endpoint_url, max_attempts=1)
    with pytest.raises(ClientError, match="SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId"):
        store.put("k", b"v")


def test_a_concurrent_conditional_write_409_is_already_exists(s3_uri):
    """AWS answers 409 ConditionalRequestConflict while another conditional write to the key is in flight."""
    store = S3Store(s3_uri, endpoint_url="http://127.0.0.1:9", region="us-east-1")
    with Stubber(store._client) as stub:
        stub.add_client_error("put_object", "ConditionalRequestConflict", http_status_code=409)
        stub.add_client_error("put_object", "PreconditionFailed", http_status_code=412)
        for _ in range(2):
            with pytest.raises(AlreadyExists):
                store.put("_foundry/commits/00000.json", b"{}", if_absent=True)


def test_throttling_is_retried_by_botocore(s3_server, s3_uri):
    """A 503 SlowDown (S3's throttle) never reaches the caller: the client's retry policy absorbs it."""
    store = S3Store(s3_uri, endpoint_url=s3_server.endpoint_url)
    throttled = []

    def slow_down(request, **_):
        if not throttled:
            throttled.append(request.url)
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return None

    store._client.meta.events.register("before-send.s3.PutObject", slow_down)
    store.put("k", b"v", if_absent=True)
    assert throttled and store.get("k") == b"v"


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


class _Gate:
    """A store that stops before writing one key until the test says go."""

    def __init__(self, store, key: str):
        self.store, self.key = store, key
        self.reached, self.go = threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self.store, name)

    def put(self, key: str, data: bytes, if_absent: bool = False) -> None:
        if key == self.key:
            self.reached.set()
            self.go.wait(30)
        self.store.put(key, data, if_absent)


def test_writer_rides_out_a_server_restart_mid_commit(s3_server, s3_uri, reference_ids):
    """The server dies just before a commit record is written and is back ~2 s later: nothing lost or doubled."""
    store = S3Store(s3_uri, endpoint_url=s3_server.endpoint_url)
    gate = _Gate(store, f"{COMMITS}00002.json")
    errors: list[BaseException] = []
    failed_attempts = []  # proof that the outage was met (and retried), not slept through

    def note_failure(caught_exception=None, **_) -> None:
        if caught_exception is not None:
            failed_attempts.append(caught_exception)

    store._client.meta.events.register("needs-retry.s3", note_failure)

    def run() -> None:
        try:
            write_tasks(gate)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    writer = threading.Thread(target=run)
    writer.start()
    assert gate.reached.wait(30)
    s3_server.stop()
    gate.go.set()  # the record's put now meets a dead endpoint; botocore keeps retrying it
    time.sleep(1.0)
    s3_server.start()
    writer.join(60)
    assert not writer.is_alive() and not errors, errors
    assert failed_attempts, "the writer never met the outage"
    assert_exactly_once(store, reference_ids)
