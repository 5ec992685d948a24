"""`s3://bucket/prefix` as an ObjectStore: AWS S3 or any S3-compatible server, through boto3.

Credentials come only from boto3's standard chain (environment, profile, instance role), never from Foundry's
config, so nothing here can log or persist them. Throttling (503 SlowDown), 5xx and dropped connections are retried
by botocore itself; the conditional put is S3's `If-None-Match: *`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from urllib.parse import urlparse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from foundry.storage.base import AlreadyExists

# 412: the key exists. 409: a concurrent conditional write to the same key is in flight (AWS asks the loser to
# retry); either way someone else is claiming this key, which is exactly what `if_absent` must report.
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_MISSING_CODES = {"NoSuchKey", "NotFound", "404"}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b/` -> (`bucket`, `a/b`): the bucket and the key prefix every store key is relative to."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix)")
    return parsed.netloc, parsed.path.strip("/")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Store:
    """Objects under an S3 prefix; keys are relative to the prefix, like paths under `LocalStore`'s root.

    Small objects go up in one `PutObject` (atomic: readers see all of it or nothing); objects above
    `multipart_threshold` go up (and are copied server-side) in parallel parts, which S3 also publishes atomically.
    """

    def __init__(
        self,
        uri: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        *,
        retry_mode: str = "standard",
        max_attempts: int = 10,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        multipart_threshold: int = 64 * 2**20,
    ):
        self.bucket, self.prefix = split_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self._args = (uri, endpoint_url, region, profile)
        self._options = {"retry_mode": retry_mode, "max_attempts": max_attempts, "connect_timeout": connect_timeout,
                         "read_timeout": read_timeout, "multipart_threshold": multipart_threshold}
        # "standard" retries back off exponentially with jitter on throttling, 5xx and connection errors; "adaptive"
        # adds a client-side rate limiter that slows every later call after one throttle.
        config = Config(
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},  # the first attempt included
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        session = boto3.Session(profile_name=profile, region_name=region)
        self._client = session.client("s3", endpoint_url=endpoint_url, config=config)
        self._transfer = TransferConfig(multipart_threshold=multipart_threshold,
                                        multipart_chunksize=multipart_threshold)

    def __repr__(self) -> str:
        _, endpoint_url, region, profile = self._args
        return f"S3Store({self.uri!r}, endpoint_url={endpoint_url!r}, region={region!r}, profile={profile!r})"

    def __reduce__(self):
        # boto3 clients do not pickle; rebuild from the same (secret-free) arguments, e.g. inside a Ray worker.
        return _rebuild, (self._args, self._options)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, if_absent: bool = False) -> None:
        # A conditional put is always a single PutObject: commit records are small, and one request keeps the
        # If-None-Match semantics simple (no multipart upload to abandon on a conflict).
        if if_absent or len(data) < self._transfer.multipart_threshold:
            extra = {"IfNoneMatch": "*"} if if_absent else {}
            try:
                self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
            except ClientError as error:
                if if_absent and _code(error) in _CONFLICT_CODES:
                    raise AlreadyExists(key) from None
                raise
        else:
            self._client.upload_fileobj(io.BytesIO(data), self.bucket, self._key(key), Config=self._transfer)

    def get(self, key: str) -> bytes | None:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as error:
            if _code(error) in _MISSING_CODES:
                return None
            raise

    def list(self, prefix: str) -> list[str]:
        """Keys (relative to the store) that start with `prefix`, sorted."""
        start = len(self._key(""))
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
        return sorted(item["Key"][start:] for page in pages for item in page.get("Contents", ()))

    def copy(self, src: str, dst: str) -> None:
        """Server-side copy: one CopyObject below the multipart threshold, UploadPartCopy parts above it.

        CopyObject alone stops at 5 GB; the managed copy picks the right one from the source's size.
        """
        source = {"Bucket": self.bucket, "Key": self._key(src)}
        try:
            self._client.copy(source, self.bucket, self._key(dst), Config=self._transfer)
        except ClientError as error:
            if _code(error) in _MISSING_CODES:
                raise FileNotFoundError(f"{self.uri}/{src}") from None
            raise

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def clean_incomplete(self, abandoned: Callable[[str], bool]) -> int:
        """Abort multipart uploads (a large staged shard, a copy into data/) that a crash left open: S3 keeps and
        bills their parts until they are aborted (a bucket lifecycle rule does the same for other prefixes)."""
        start, aborted = len(self._key("")), 0
        pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                              Prefix=self._key(""))
        for page in pages:
            for upload in page.get("Uploads", ()):
                if abandoned(upload["Key"][start:]):
                    try:
                        self._client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                            UploadId=upload["UploadId"])
                        aborted += 1
                    except ClientError as error:
                        if _code(error) != "NoSuchUpload":  # aborted meanwhile by another recovery
                            raise
        return aborted


def _rebuild(args: tuple, options: dict) -> S3Store:
    return S3Store(*args, **options)
