"""Where and how wide a campaign runs: Ray, replicas, verifier workers, watchdogs."""

from __future__ import annotations

from pydantic import Field

from foundry.config.base import Strict


class ClusterConfig(Strict):
    """Where and how wide the campaign runs."""

    address: str | None = None
    """Ray cluster address; None starts a local Ray instance."""
    replicas: int = Field(default=1, ge=1)
    """Generator replicas (data parallelism), one engine each."""
    replica_num_cpus: float = Field(default=1, ge=0)
    """CPUs reserved by each replica actor."""
    replica_num_gpus: float | None = Field(default=None, ge=0)
    """GPUs per replica; default `tensor_parallel_size` when the cluster has GPUs, else 0."""
    verifier_num_cpus: float = Field(default=0.5, gt=0)
    """CPUs reserved by each verification task."""
    num_cpus: int | None = Field(default=None, ge=1)
    """CPUs for a local Ray instance (default: all)."""
    max_in_flight_per_replica: int = Field(default=64, ge=1)
    """Requests outstanding per replica (backpressure: no more are sent until some finish)."""
    verifier_workers: int = Field(default=2, ge=1)
    """Verifier actors (each keeps warm sandboxes and parsers); when all are busy, generation waits."""
    verify_timeout_seconds: float = Field(default=300, gt=0)
    """A batch still unverified after this long is rejected and its verifier worker replaced."""
    max_replica_restarts: int = Field(default=3, ge=0)
    """Replacements of dead or hung replicas allowed per run before the run fails (resumable)."""
    infra_retries: int = Field(default=4, ge=0)
    """Attempts after the first for a generation, verification or judge call that failed for infrastructure
    reasons (dead actor, unreachable endpoint, timeout); a task still failing is left uncommitted for `--resume`."""
    infra_backoff_seconds: float = Field(default=1.0, ge=0, le=30)
    """Wait before the first such retry, doubled at each retry and capped at 30 s."""
    replica_resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources each replica reserves (e.g. `{a100: 1}` to land on nodes started with
    `--resources '{"a100": 8}'`): how a campaign picks node types."""
    replica_labels: dict[str, str] = Field(default_factory=dict)
    """Ray node labels a replica's node must carry (nodes started with `ray start --labels`), e.g.
    `{ray.io/accelerator-type: H100}`: every bundle of its placement group is placed by them."""
    verifier_labels: dict[str, str] = Field(default_factory=dict)
    """Ray node labels a verifier actor's node must carry, e.g. `{pool: cpu}` to keep verification off GPU nodes."""
    health_interval_seconds: float = Field(default=30, gt=0)
    """How often each replica's engine is probed (`check_health`)."""
    health_timeout_seconds: float = Field(default=60, gt=0)
    """A replica whose probe has not answered after this long is declared hung and replaced."""
    request_timeout_seconds: float = Field(default=900, gt=0)
    """No-progress watchdog: a replica with requests in flight that finished none of them for this long is
    declared hung and replaced; its requests are sent again (ids are deterministic, so nothing is duplicated)."""
    partitions: int = Field(default=1, ge=1, le=4096)
    """Drivers the campaign is split over, for clusters that outgrow one: `foundry submit` runs one Ray Job per
    partition, each owning a fixed hash partition of the task ids and its own commits in the same output."""
    price_per_gpu_hour: float | None = Field(default=None, ge=0)
    """Price of one GPU-hour; when set, the cost report gives money per accepted sample."""
