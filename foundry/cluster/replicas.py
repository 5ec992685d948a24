"""A pool of generator replica actors with bounded requests in flight and restarts of dead replicas."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

from foundry.generators.engine import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


class ReplicaFailure(RuntimeError):
    """Replicas kept dying past the restart budget."""


class ReplicaPool:
    """Sends each request to the least-loaded replica, at most `max_in_flight` per replica (backpressure).

    A replica whose actor dies is replaced (up to `max_restarts` in total) and the request is sent again: sample
    ids are deterministic, so a retried request cannot produce a duplicate.
    """

    def __init__(self, start: Callable[[int], Any], size: int, max_in_flight: int, max_restarts: int = 3):
        self._start = start
        self.replicas = [start(i) for i in range(size)]
        self.load = [0] * size
        self.max_in_flight = max_in_flight
        self.max_restarts = max_restarts
        self.restarts = 0
        self.requests_retried = 0
        self._slots: asyncio.Semaphore | None = None

    def nodes(self) -> list[dict[str, Any]]:
        """Wait for every engine to load; name the replica whose engine failed to start."""
        return ray.get([replica.node.remote() for replica in self.replicas])

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        if self._slots is None:
            self._slots = asyncio.Semaphore(len(self.replicas) * self.max_in_flight)
        async with self._slots:
            while True:
                index = min(range(len(self.replicas)), key=self.load.__getitem__)
                replica = self.replicas[index]
                self.load[index] += 1
                try:
                    return await replica.generate.remote(request)
                except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
                    self._replace(index, replica, exc)
                    self.requests_retried += 1
                finally:
                    self.load[index] -= 1

    def _replace(self, index: int, dead: Any, exc: Exception) -> None:
        if self.replicas[index] is not dead:
            return  # another request already replaced it
        if self.restarts >= self.max_restarts:
            raise ReplicaFailure(f"replica-{index} died and the restart budget ({self.max_restarts}) is spent: {exc}")
        self.restarts += 1
        log.warning("replica-%d died (%s); restarting (%d/%d)", index, type(exc).__name__, self.restarts,
                    self.max_restarts)
        self.replicas[index] = self._start(index)

    def shutdown(self) -> None:
        for replica in self.replicas:
            try:
                ray.get(replica.shutdown.remote(), timeout=30)
            except Exception:  # already dead or stuck: killing it below is enough
                pass
            ray.kill(replica)
