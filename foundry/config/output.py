"""Where samples are written: a local folder or an S3 prefix, and how shards roll and commit."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from foundry.config.base import Strict


class OutputConfig(Strict):
    """Where accepted and rejected samples go."""

    path: str = Field(min_length=1)
    """Local folder (relative to the config file) or `s3://bucket/prefix`."""
    shard_max_rows: int = Field(default=10_000, ge=1)
    shard_max_bytes: int = Field(default=256 * 2**20, ge=1024)
    """Roll to a new shard once buffered rows reach about this many bytes."""
    flush_seconds: float = Field(default=60.0, gt=0)
    """Commit buffered samples at least this often, so a crash loses at most this much work."""
    keep_rejected: bool = True
    """Write rejected samples (with their verdicts) to `data/rejected-*.parquet`."""
    endpoint_url: str | None = None
    """S3-compatible endpoint (for `s3://` outputs)."""
    region: str | None = None
    profile: str | None = None
    """A named AWS profile; credentials themselves never go in the config (the standard chain finds them)."""
    retry_mode: Literal["standard", "adaptive"] = "standard"
    """botocore's retry mode for S3 calls: `standard` backs off on throttling (503 SlowDown), 5xx and connection
    errors; `adaptive` also rate-limits this client after a throttle."""
    max_attempts: int = Field(default=10, ge=1)
    """Attempts per S3 call, the first included."""
    multipart_threshold_bytes: int = Field(default=64 * 2**20, ge=5 * 2**20)
    """Shards above this go up (and are copied) as parallel multipart parts of this size."""
    max_outage_seconds: float = Field(default=300, ge=0)
    """How long commits may keep failing against the store (an S3 outage) before the run stops, resumably;
    generation goes on meanwhile and the commits retry with backoff. 0: stop at the first failed commit."""
    commit_queue_tasks: int = Field(default=4096, ge=1)
    """Finished tasks buffered in memory waiting for a commit; generation is paused while the buffer is full."""

    def store_options(self) -> dict[str, Any]:
        """What `storage.uri.open_store` takes from this section."""
        return {"endpoint_url": self.endpoint_url, "region": self.region, "profile": self.profile,
                "retry_mode": self.retry_mode, "max_attempts": self.max_attempts,
                "multipart_threshold": self.multipart_threshold_bytes}
