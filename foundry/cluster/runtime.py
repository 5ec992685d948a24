"""Where work runs: Ray start-up, generator replica actors and the verifier actor pool.

The stages themselves (`GeneratorReplica`, `VerifierChain`) are plain Python; this module is the only place that
wraps them in Ray actors, so the same stages run locally, on a cluster, or in unit tests without Ray.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from typing import Any

import ray

from foundry.cluster.placement import QUIET_ENGINE, ReplicaLauncher, here, replica_gpus
from foundry.config import CampaignConfig, ClusterConfig
from foundry.errors import VerificationTimeout
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


Checked = tuple[list[Verdict], bool, bytes | None]
"""A sample's verdicts, whether it is accepted, and (with dedup on) its fingerprint."""


class VerifierWorker:
    """Holds one warm `VerifierChain` (sandboxes, parsers) and verifies batches of samples; with a `screen` (the
    sample gates' stateless part, `quality.screen`), accepted samples are screened here too."""

    def __init__(self, campaign_json: str, judges: dict[str, Any] | None = None, screen: Any = None):
        from foundry.verifiers import build_chain

        self.chain = build_chain(CampaignConfig.model_validate_json(campaign_json), judges)
        self.screen = screen
        for verifier in self.chain.verifiers:
            getattr(verifier, "preflight", lambda: None)()

    def verify(self, samples: list[Sample]) -> list[Checked]:
        return [self._check(sample) for sample in samples]

    def _check(self, sample: Sample) -> Checked:
        verdicts, accepted = self.chain.run(sample)
        if not accepted or self.screen is None:
            return verdicts, accepted, None
        screened = self.screen.screen(sample)
        if screened.verdict is not None:
            return [*verdicts, screened.verdict], False, None
        return verdicts, True, screened.fingerprint

    def versions(self) -> list[dict[str, str]]:
        return self.chain.versions()

    def node(self) -> dict[str, Any]:
        """Where this worker runs, for the manifest's record of which nodes did the work."""
        return {"role": "verifier", **here()}


MERGED_CALL_SECONDS = 0.05
"""Merged verification calls aim at this duration: big enough to amortize Ray's per-call cost, small enough that a
slow verifier (code tests) still sends one task per call."""
MAX_MERGED_SAMPLES = 1024


@dataclasses.dataclass
class _Check:
    samples: list[Sample]
    future: asyncio.Future
    timeout: float
    alone: bool = False
    """Not merged with other tasks' samples (set after a merged call timed out)."""


def _resolve(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    if not future.done():  # its task may have been cancelled meanwhile (the run is failing)
        future.set_exception(error) if error is not None else future.set_result(result)


class VerifierPool:
    """A fixed pool of verifier actors; `verify` waits for a free one, which is the backpressure on generation."""

    def __init__(self, campaign: CampaignConfig, size: int, judges: dict[str, Any] | None = None, screen: Any = None):
        labels = {"label_selector": dict(campaign.cluster.verifier_labels)} if campaign.cluster.verifier_labels else {}
        self._actor_class = ray.remote(VerifierWorker).options(num_cpus=campaign.cluster.verifier_num_cpus, **labels)
        self._body = campaign.model_dump_json()
        self._judges = judges or {}
        self._screen = ray.put(screen) if screen is not None else None  # the benchmark index: once, not per actor
        self.workers = [self._actor_class.remote(self._body, self._judges, self._screen) for _ in range(size)]
        self.idle: list[Any] = []
        self._pending: list[_Check] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seconds_per_sample = 0.0  # moving average, sizes merged calls
        self._calls: set[asyncio.Task] = set()
        self.replaced = 0

    async def verify(self, samples: list[Sample], timeout: float) -> list[Checked]:
        """Verify one task's samples. While every worker is busy, the checks of many tasks wait and then go out
        as one actor call (sized to take about `MERGED_CALL_SECONDS`): Ray's per-call cost is paid per batch."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self.idle, self._pending = loop, list(self.workers), []
        check = _Check(samples, loop.create_future(), timeout)
        self._pending.append(check)
        self._dispatch()
        return await check.future

    def _dispatch(self) -> None:
        while self._pending and self.idle:
            worker, batch = self.idle.pop(), [self._pending.pop(0)]
            limit = MERGED_CALL_SECONDS / self._seconds_per_sample if self._seconds_per_sample else 64
            size = len(batch[0].samples)
            while not batch[0].alone and self._pending and not self._pending[0].alone and \
                    size + len(self._pending[0].samples) <= min(limit, MAX_MERGED_SAMPLES):
                size += len(self._pending[0].samples)
                batch.append(self._pending.pop(0))
            task = asyncio.ensure_future(self._call(worker, batch))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _call(self, worker: Any, batch: list[_Check]) -> None:
        samples = [sample for check in batch for sample in check.samples]
        started = time.perf_counter()
        try:
            results = await asyncio.wait_for(worker.verify.remote(samples), batch[0].timeout)
        except asyncio.TimeoutError:
            # A runaway check (a parser stuck in sympy, say): replace the worker; alone, the task's check fails as
            # an infrastructure error (retried by the executor, never a rejection); merged with others, every task
            # is checked again alone to find the runaway.
            worker = self._replace(worker)
            if len(batch) == 1:
                _resolve(batch[0].future, error=VerificationTimeout(
                    f"verification exceeded {batch[0].timeout:.0f}s"))
            else:
                self._pending[:0] = [dataclasses.replace(check, alone=True) for check in batch]
        except Exception as exc:
            if isinstance(exc, ray.exceptions.RayActorError):
                worker = self._replace(worker)  # a dead worker must not go back to the idle list
            for check in batch:
                _resolve(check.future, error=exc)
        else:
            seconds = (time.perf_counter() - started) / max(len(samples), 1)
            self._seconds_per_sample = 0.8 * self._seconds_per_sample + 0.2 * seconds if self._seconds_per_sample \
                else seconds
            start = 0
            for check in batch:
                _resolve(check.future, results[start:start + len(check.samples)])
                start += len(check.samples)
        finally:
            self.idle.append(worker)
            self._dispatch()

    def _replace(self, worker: Any) -> Any:
        try:
            ray.kill(worker)
        except Exception:  # already gone
            pass
        self.workers.remove(worker)
        fresh = self._actor_class.remote(self._body, self._judges, self._screen)
        self.workers.append(fresh)
        self.replaced += 1
        return fresh

    async def describe(self) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
        """The chain's verifier names and versions, and each worker's node; answered once the workers have started."""
        versions, *nodes = await asyncio.gather(self.workers[0].versions.remote(),
                                                *(worker.node.remote() for worker in self.workers))
        return versions, nodes

    def versions(self) -> list[dict[str, Any]]:
        return ray.get(self.workers[0].versions.remote())

    def shutdown(self) -> None:
        for worker in self.workers:
            ray.kill(worker)
