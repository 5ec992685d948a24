"""ReplicaPool's fault tolerance on real Ray actors with a fake engine: killed, hung, engine-dead, budget spent."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest
import ray

from foundry.cluster.placement import ExitOnEngineDeath, Mailbox
from foundry.cluster.replicas import ReplicaFailure, ReplicaPool
from foundry.generators.engine import GenerationRequest, GenerationResult
from foundry.types import Completion

# Ray workers cannot import a test module by name: ship the fake classes by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


class EngineDeadError(Exception):
    """Stands in for vllm.v1.engine.exceptions.EngineDeadError (matched by name, as vLLM's is)."""


class FakeEngine(Mailbox):
    """GeneratorReplica's interface without vLLM. `mode`: `ok`, `hang` (generate and health never answer after
    `after` requests), `stall` (generate never answers, health does), `dead` (the engine dies after `after`)."""

    def __init__(self, mode: str = "ok", after: int = 0, delay: float = 0.02):
        self.mode, self.after, self.delay, self.calls = mode, after, delay, 0

    def node(self) -> dict:
        return {"replica": "fake", "pid": os.getpid()}

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        self.calls += 1
        if self.calls > self.after and self.mode in ("hang", "stall"):
            await asyncio.sleep(3600)
        if self.calls > self.after and self.mode == "dead":
            raise EngineDeadError("engine core died")
        await asyncio.sleep(self.delay)
        return GenerationResult(request.request_id, "p", 1, [Completion(text="x", completion_tokens=1)], self.delay,
                                f"pid-{os.getpid()}")

    async def health(self) -> bool:
        if self.calls > self.after and self.mode == "hang":
            await asyncio.sleep(3600)
        return True

    def shutdown(self) -> None:
        pass


class DyingEngine(ExitOnEngineDeath, FakeEngine):
    """The production mixin over the fake engine: EngineDeadError ends the actor process."""


def starter(modes: list[tuple[str, int]], cls=FakeEngine):
    """A start function whose n-th actor behaves as modes[n] (the last mode repeats)."""
    started = []

    def start(index: int):
        mode, after = modes[min(len(started), len(modes) - 1)]
        actor = ray.remote(cls).options(num_cpus=0, max_concurrency=100).remote(mode, after)
        started.append(actor)
        return actor

    return start, started


def run_requests(pool: ReplicaPool, count: int, on_done=None) -> list[GenerationResult]:
    async def main():
        async def one(i):
            result = await pool.generate(GenerationRequest(f"r{i}", {"n": 1}, prompt="p"))
            if on_done:
                on_done(i)
            return result

        return await asyncio.gather(*(one(i) for i in range(count)))

    return asyncio.run(main())


@pytest.fixture
def ray_up(ray_local):
    return ray_local


def test_killed_replica_is_replaced_and_nothing_is_lost(ray_up):
    start, started = starter([("ok", 0)])
    pool = ReplicaPool(start, 1, max_in_flight=4, max_restarts=2, health_interval=60)
    pool.nodes()
    done = []

    def kill_after_ten(i):
        done.append(i)
        if len(done) == 10:
            # from another thread, as an operator or the OOM killer would
            threading.Thread(target=ray.kill, args=(started[0],)).start()

    results = run_requests(pool, 60, kill_after_ten)
    assert sorted(r.request_id for r in results) == sorted(f"r{i}" for i in range(60))
    assert pool.restarts == 1 and len(started) == 2
    assert pool.requests_retried >= 1
    assert len({r.replica for r in results}) == 2  # both the killed and the fresh actor answered
    pool.shutdown()


def test_stalled_replica_is_replaced_by_the_no_progress_watchdog(ray_up):
    start, started = starter([("stall", 5), ("ok", 0)])
    pool = ReplicaPool(start, 1, max_in_flight=4, max_restarts=2, health_interval=0.2, health_timeout=5,
                       request_timeout=1.0)
    pool.nodes()
    began = time.monotonic()
    results = run_requests(pool, 30)
    assert sorted(r.request_id for r in results) == sorted(f"r{i}" for i in range(30))
    assert pool.restarts == 1 and "no request finished" in pool.events[0]
    assert time.monotonic() - began < 20
    pool.shutdown()


def test_replica_whose_health_probe_hangs_is_replaced(ray_up):
    start, started = starter([("hang", 3), ("ok", 0)])
    pool = ReplicaPool(start, 2, max_in_flight=2, max_restarts=2, health_interval=0.2, health_timeout=0.5,
                       request_timeout=None)
    pool.nodes()
    results = run_requests(pool, 20)
    assert len({r.request_id for r in results}) == 20
    assert pool.restarts == 1 and "health probe unanswered" in pool.events[0]
    pool.shutdown()


def test_engine_death_exits_the_actor_and_requests_are_resent(ray_up):
    start, started = starter([("dead", 4), ("ok", 0)], cls=DyingEngine)
    pool = ReplicaPool(start, 1, max_in_flight=4, max_restarts=1, health_interval=60)
    pool.nodes()
    results = run_requests(pool, 20)
    assert sorted(r.request_id for r in results) == sorted(f"r{i}" for i in range(20))
    assert pool.restarts == 1 and "ActorDiedError" in pool.events[0]
    pool.shutdown()


def test_restart_budget_spent_fails_the_run(ray_up):
    start, started = starter([("dead", 1)], cls=DyingEngine)
    pool = ReplicaPool(start, 1, max_in_flight=2, max_restarts=2, health_interval=60)
    pool.nodes()
    with pytest.raises(ReplicaFailure, match="restart budget"):
        run_requests(pool, 20)
    assert pool.restarts == 2
    pool.shutdown()


def test_pool_survives_several_event_loops(ray_up):
    """Tests and benchmarks reuse one pool across `asyncio.run` calls; per-loop state must follow."""
    start, _ = starter([("ok", 0)])
    pool = ReplicaPool(start, 1, max_in_flight=2, health_interval=60)
    for _ in range(3):
        assert len(run_requests(pool, 10)) == 10
    pool.shutdown()
