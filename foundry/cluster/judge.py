"""An LLM judge served by vLLM replica actors, for the rubric verifier running inside verifier actors."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import ray

from foundry.generators.engine import GenerationRequest


class ReplicaJudge:
    """Sends judge prompts round-robin to replica actors; picklable, so verifier actors can hold it."""

    def __init__(self, replicas: list[Any], model: str, timeout: float = 120):
        self.replicas = list(replicas)
        self.model = model
        self.timeout = timeout
        self._next = itertools.count()

    def __getstate__(self) -> dict[str, Any]:
        return {"replicas": self.replicas, "model": self.model, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def complete(self, messages, json_schema, regex, max_tokens, temperature) -> str:
        replica = self.replicas[next(self._next) % len(self.replicas)]
        request = GenerationRequest(
            request_id=f"judge-{uuid.uuid4().hex}",
            sampling={"n": 1, "max_tokens": max_tokens, "temperature": temperature},
            messages=messages,
            structured_outputs={"regex": regex},
        )
        result = ray.get(replica.generate.remote(request), timeout=self.timeout)
        return result.completions[0].text
