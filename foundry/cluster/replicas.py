"""A pool of generator replica actors: bounded requests in flight, and replacement of dead or hung replicas."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

from foundry.generators.engine import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

_DEAD = (ActorDiedError, ActorUnavailableError, RayActorError)


class ReplicaFailure(RuntimeError):
    """Replicas kept dying or hanging past the restart budget."""


class RequestFailed(RuntimeError):
    """The engine refused or failed one request (the replica itself is fine)."""


@dataclass(eq=False)
class _Replica:
    """One replica actor and what the watchdog needs to know about it."""

    actor: Any
    load: int = 0
    progress: float = field(default_factory=time.monotonic)
    """Last time a request finished, or work began after an idle spell: the no-progress clock."""
    ready: bool = False
    """The engine has loaded (constructor done); hang checks wait for it, loading is not hanging."""
    outbox: list[tuple[GenerationRequest, asyncio.Future]] = field(default_factory=list)
    """Requests of this event-loop tick, sent together by one `submit` call."""
    waiting: dict[str, asyncio.Future] = field(default_factory=dict)
    """Submitted requests by id, resolved by the collector."""
    acks: list[str] = field(default_factory=list)
    collector: asyncio.Task | None = None
    collect_ref: Any = None


class ReplicaPool:
    """Sends each request to the least-loaded replica, at most `max_in_flight` per replica (backpressure).

    A replica is replaced (up to `max_restarts` in total) when its actor dies, when its health probe fails or takes
    longer than `health_timeout`, or when it has requests in flight and finished none of them for
    `request_timeout` seconds. Replacing kills the old actor, so its in-flight requests fail and are sent again:
    sample ids are deterministic, so a re-sent request cannot produce a duplicate.

    Requests travel in batches (`placement.Mailbox`): the requests of one event-loop tick go to a replica in one
    `submit` call, and one outstanding `collect` call per replica brings back whatever has finished.
    """

    def __init__(
        self,
        start: Callable[[int], Any],
        size: int,
        max_in_flight: int,
        max_restarts: int = 3,
        *,
        stop: Callable[[int, Any], None] | None = None,
        health_interval: float = 30.0,
        health_timeout: float = 60.0,
        request_timeout: float | None = 900.0,
        on_change: Callable[[list[Any]], Any] | None = None,
    ):
        """`on_change(replicas)` runs after every replacement: judges read the live handles through it."""
        self._start = start
        self._stop = stop or (lambda index, actor: ray.kill(actor, no_restart=True))
        self.slots = [_Replica(start(i)) for i in range(size)]
        self.max_in_flight = max_in_flight
        self.max_restarts = max_restarts
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self.request_timeout = request_timeout
        self.restarts = 0
        self.requests_retried = 0
        self.events: list[str] = []
        """One line per replacement: which replica, why."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._capacity: asyncio.Semaphore | None = None
        self._background: set[asyncio.Task] = set()
        self.on_change = on_change

    @property
    def replicas(self) -> list[Any]:
        return [slot.actor for slot in self.slots]

    @property
    def load(self) -> list[int]:
        return [slot.load for slot in self.slots]

    def nodes(self) -> list[dict[str, Any]]:
        """Wait for every engine to load; name the replica whose engine failed to start."""
        found = ray.get([slot.actor.node.remote() for slot in self.slots])
        for slot in self.slots:
            slot.ready = True
            slot.progress = time.monotonic()
        return found

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        self._bind_loop()
        async with self._capacity:
            while True:
                index = min(range(len(self.slots)), key=lambda i: self.slots[i].load)
                slot = self.slots[index]
                if slot.load == 0:
                    slot.progress = time.monotonic()
                slot.load += 1
                try:
                    return await self._send(slot, request)
                except _DEAD as exc:
                    self._replace(index, slot, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                    self.requests_retried += 1
                finally:
                    slot.load -= 1

    def _send(self, slot: _Replica, request: GenerationRequest) -> asyncio.Future:
        future = self._loop.create_future()
        slot.outbox.append((request, future))
        if len(slot.outbox) == 1:
            self._loop.call_soon(self._flush, slot)
        return future

    def _flush(self, slot: _Replica) -> None:
        batch, slot.outbox = slot.outbox, []
        for request, future in batch:
            slot.waiting[request.request_id] = future
        self._spawn(self._submit(slot, slot.actor.submit.remote([request for request, _ in batch])))
        if slot.collector is None or slot.collector.done():
            slot.collector = self._spawn(self._collect(slot))

    async def _submit(self, slot: _Replica, ref: Any) -> None:
        try:
            await ref
        except Exception as exc:  # a dead actor, or requests that could not be sent: their callers decide
            self._fail_waiting(slot, exc)

    async def _collect(self, slot: _Replica) -> None:
        """Resolve this replica's requests as they finish; a dead replica fails them all (callers re-send)."""
        while slot.waiting:
            slot.collect_ref = slot.actor.collect.remote(slot.acks)
            try:
                finished = await slot.collect_ref
            except Exception as exc:
                self._fail_waiting(slot, exc)
                return
            slot.progress = time.monotonic()
            slot.acks = [request_id for request_id, _, _ in finished]
            for request_id, result, error in finished:
                future = slot.waiting.pop(request_id, None)
                if future is None or future.done():
                    continue  # delivered before (to a collect whose caller went away) and acknowledged now
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(RequestFailed(f"request {request_id}: {error}"))

    @staticmethod
    def _fail_waiting(slot: _Replica, exc: BaseException) -> None:
        waiting, slot.waiting = slot.waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    def watch(self) -> None:
        """Start the watchdog on the running loop now, for a pool that only judges (no `generate` binds it)."""
        self._bind_loop()

    def _bind_loop(self) -> None:
        """Per-event-loop state: a pool outlives `asyncio.run` calls (tests and benchmarks reuse one)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._capacity = asyncio.Semaphore(len(self.slots) * self.max_in_flight)
        self._background = set()
        for slot in self.slots:
            if slot.collect_ref is not None:
                try:
                    ray.cancel(slot.collect_ref)  # a collect left waiting by the previous loop; results stay unacked
                except Exception:
                    pass
            slot.outbox, slot.waiting, slot.collector, slot.collect_ref = [], {}, None, None
        self._spawn(self._watch())
        for index, slot in enumerate(self.slots):
            if not slot.ready:
                self._spawn(self._await_ready(index, slot))

    def _spawn(self, coroutine: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _replace(self, index: int, old: _Replica, reason: str) -> None:
        """Kill `old` (its in-flight requests fail and are re-sent) and start a fresh replica in its place."""
        if self.slots[index] is not old:
            return  # another request (or the watchdog) already replaced it
        try:
            self._stop(index, old.actor)
        except Exception:  # already gone
            pass
        if self.restarts >= self.max_restarts:
            raise ReplicaFailure(f"replica-{index} failed ({reason}) and the restart budget "
                                 f"({self.max_restarts}) is spent")
        self.restarts += 1
        self.events.append(f"replica-{index}: {reason}")
        log.warning("replica-%d replaced (%s); restart %d/%d", index, reason, self.restarts, self.max_restarts)
        fresh = _Replica(self._start(index))
        self.slots[index] = fresh
        if self.on_change is not None:
            self.on_change(self.replicas)
        if self._loop is not None and self._loop.is_running():
            self._spawn(self._await_ready(index, fresh))

    async def _await_ready(self, index: int, slot: _Replica) -> None:
        try:
            await slot.actor.node.remote()
        except _DEAD as exc:
            self._fail_quietly(index, slot, f"engine failed to start: {type(exc).__name__}")
            return
        slot.ready = True
        slot.progress = time.monotonic()

    async def _watch(self) -> None:
        """The watchdog: no-progress checks often, health probes every `health_interval`."""
        checks = [self.health_interval] + ([self.request_timeout / 4] if self.request_timeout else [])
        tick = max(0.05, min(checks))
        last_probe = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for index, slot in enumerate(list(self.slots)):
                stalled = now - slot.progress
                if self.request_timeout and slot.ready and slot.load and stalled > self.request_timeout:
                    self._fail_quietly(index, slot, f"no request finished in {stalled:.0f}s")
            if now - last_probe >= self.health_interval:
                last_probe = now
                await asyncio.gather(*(self._probe(i, s) for i, s in enumerate(list(self.slots)) if s.ready))

    async def _probe(self, index: int, slot: _Replica) -> None:
        try:
            await asyncio.wait_for(slot.actor.health.remote(), self.health_timeout)
        except asyncio.TimeoutError:
            self._fail_quietly(index, slot, f"health probe unanswered after {self.health_timeout:.0f}s")
        except Exception as exc:  # dead actor or a failing engine check: either way the replica is gone
            self._fail_quietly(index, slot, f"health probe failed: {type(exc).__name__}")

    def _fail_quietly(self, index: int, slot: _Replica, reason: str) -> None:
        """Replace from the watchdog; a spent budget surfaces through the requests (killed, they re-raise)."""
        try:
            self._replace(index, slot, reason)
        except ReplicaFailure as exc:
            log.error("%s", exc)

    def shutdown(self) -> None:
        for task in list(self._background):
            task.cancel()
        for index, slot in enumerate(self.slots):
            try:
                ray.get(slot.actor.shutdown.remote(), timeout=30)
            except Exception:  # already dead or stuck: stopping it below is enough
                pass
            try:
                self._stop(index, slot.actor)
            except Exception:
                pass
