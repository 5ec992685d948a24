"""An LLM judge served by vLLM replica actors, for the rubric verifier running inside verifier actors.

The judge never keeps the actor handles it was given at start: it reads the live ones from a `ReplicaDirectory`
that the driver's `ReplicaPool` updates whenever its watchdog replaces a replica. A call that fails is retried on
the current replicas with backoff; if they stay broken the judge raises `InfrastructureError`, which the executor
turns into a retry or an uncommitted task — never into a rejection.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from foundry.errors import InfrastructureError
from foundry.types import GenerationRequest


@ray.remote(num_cpus=0)
class ReplicaDirectory:
    """The live replica handles of one pool, as the driver last published them."""

    def __init__(self, replicas: list[Any]):
        self.replicas = list(replicas)

    def publish(self, replicas: list[Any]) -> None:
        self.replicas = list(replicas)

    def current(self) -> list[Any]:
        return self.replicas


def publish_to(directory: Any):
    """A `ReplicaPool.on_change` callback that keeps `directory` in step with the pool."""
    return lambda replicas: directory.publish.remote(replicas)


class ReplicaJudge:
    """Sends judge prompts round-robin to the pool's live replicas; picklable, so verifier actors can hold it."""

    def __init__(self, directory: Any, model: str, timeout: float = 120, attempts: int = 4,
                 backoff_seconds: float = 1.0):
        self.directory = directory
        self.model = model
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self._next = itertools.count()
        self._replicas: list[Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory, "model": self.model, "timeout": self.timeout,
                "attempts": self.attempts, "backoff_seconds": self.backoff_seconds}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def complete(self, messages, json_schema, regex, max_tokens, temperature) -> str:
        request = GenerationRequest(
            request_id=f"judge-{uuid.uuid4().hex}",
            sampling={"n": 1, "max_tokens": max_tokens, "temperature": temperature},
            messages=messages,
            structured_outputs={"regex": regex},
        )
        problem = "no attempt"
        for attempt in range(self.attempts):
            try:
                if self._replicas is None:
                    self._replicas = ray.get(self.directory.current.remote(), timeout=self.timeout)
                replica = self._replicas[next(self._next) % len(self._replicas)]
                result = ray.get(replica.generate.remote(request), timeout=self.timeout)
                return result.completions[0].text
            except (RayActorError, RayTaskError, GetTimeoutError) as exc:
                problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                self._replicas = None  # read the live handles again: the pool may have replaced this replica
                time.sleep(min(self.backoff_seconds * 2**attempt, 30))
        raise InfrastructureError(f"judge {self.model}: {self.attempts} attempts failed, last: {problem}")
