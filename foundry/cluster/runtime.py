"""Where work runs: Ray start-up, generator replica actors and the verifier actor pool.

The stages themselves (`GeneratorReplica`, `VerifierChain`) are plain Python; this module is the only place that
wraps them in Ray actors, so the same stages run locally, on a cluster, or in unit tests without Ray.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from foundry.cluster.placement import QUIET_ENGINE, ReplicaLauncher, here, replica_gpus
from foundry.config import CampaignConfig, ClusterConfig
from foundry.types import Sample, Verdict

log = logging.getLogger(__name__)

__all__ = ["QUIET_ENGINE", "VerifierPool", "init_ray", "replica_gpus", "replica_pool", "start_replica"]


def init_ray(cluster: ClusterConfig, address: str | None = None) -> None:
    """Connect to the given cluster, or start a local Ray instance when there is none.

    `RAY_ADDRESS` counts as a given cluster: Ray Jobs set it for the driver of a submitted campaign.
    """
    if ray.is_initialized():
        return
    address = address or cluster.address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=cluster.num_cpus, include_dashboard=False, log_to_driver=True)


def start_replica(campaign: CampaignConfig, index: int):
    """Create one replica actor (placed as `placement.ReplicaLauncher` says); its engine loads in its constructor."""
    return ReplicaLauncher(campaign).start(index)


def replica_pool(campaign: CampaignConfig, launcher: ReplicaLauncher | None = None):
    """The campaign's replicas with its restart budget and watchdog settings."""
    from foundry.cluster.replicas import ReplicaPool

    cluster, launcher = campaign.cluster, launcher or ReplicaLauncher(campaign)
    return ReplicaPool(launcher.start, cluster.replicas, cluster.max_in_flight_per_replica,
                       cluster.max_replica_restarts, stop=launcher.stop,
                       health_interval=cluster.health_interval_seconds, health_timeout=cluster.health_timeout_seconds,
                       request_timeout=cluster.request_timeout_seconds)


class VerifierWorker:
    """Holds one warm `VerifierChain` (sandboxes, parsers) and verifies batches of samples."""

    def __init__(self, campaign_json: str, judges: dict[str, Any] | None = None):
        from foundry.verifiers import build_chain

        self.chain = build_chain(CampaignConfig.model_validate_json(campaign_json), judges)
        for verifier in self.chain.verifiers:
            getattr(verifier, "preflight", lambda: None)()

    def verify(self, samples: list[Sample]) -> list[tuple[list[Verdict], bool]]:
        return [self.chain.run(sample) for sample in samples]

    def versions(self) -> list[dict[str, str]]:
        return self.chain.versions()

    def node(self) -> dict[str, Any]:
        """Where this worker runs, for the manifest's record of which nodes did the work."""
        return {"role": "verifier", **here()}


class VerifierPool:
    """A fixed pool of verifier actors; `verify` waits for a free one, which is the backpressure on generation."""

    def __init__(self, campaign: CampaignConfig, size: int, judges: dict[str, Any] | None = None):
        self._actor_class = ray.remote(VerifierWorker).options(num_cpus=campaign.cluster.verifier_num_cpus)
        self._body = campaign.model_dump_json()
        self._judges = judges or {}
        self.workers = [self._actor_class.remote(self._body, self._judges) for _ in range(size)]
        self.idle: asyncio.Queue | None = None

    async def verify(self, samples: list[Sample], timeout: float) -> list[tuple[list[Verdict], bool]]:
        if self.idle is None:
            self.idle = asyncio.Queue()
            for worker in self.workers:
                self.idle.put_nowait(worker)
        worker = await self.idle.get()
        try:
            return await asyncio.wait_for(worker.verify.remote(samples), timeout)
        except asyncio.TimeoutError:
            # A runaway check (a parser stuck in sympy, say): replace the worker, reject the batch.
            ray.kill(worker)
            self.workers.remove(worker)
            worker = self._actor_class.remote(self._body, self._judges)
            self.workers.append(worker)
            return [(
                [Verdict(verifier="timeout", passed=False, score=0.0, reason=f"verification exceeded {timeout:.0f}s")],
                False,
            ) for _ in samples]
        finally:
            self.idle.put_nowait(worker)

    def versions(self) -> list[dict[str, Any]]:
        return ray.get(self.workers[0].versions.remote())

    def nodes(self) -> list[dict[str, Any]]:
        return ray.get([worker.node.remote() for worker in self.workers])

    def shutdown(self) -> None:
        for worker in self.workers:
            ray.kill(worker)
