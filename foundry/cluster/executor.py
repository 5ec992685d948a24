"""The executor: the one place with asyncio and retry policy, running the campaign's steps against Ray actors.

Tasks flow one way: source → task gates → `TaskSampler` (generate on the replica pool, verify on the verifier
pool, both retried on infrastructure errors) → sample gates → a bounded commit queue → one writer consumer whose
blocking work (parquet encoding, uploads) runs in a thread, never on the event loop. A store outage stalls only
the consumer: generation goes on until the queue is full, commits retry with backoff, and only past
`output.max_outage_seconds` does the run stop, resumably.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from foundry.errors import InfrastructureError, InfrastructureExhausted, StoreOutage
from foundry.generators.reasoning import PromptError
from foundry.pipeline.sampler import TaskSampler
from foundry.storage.manifest import CommitConflict
from foundry.types import Sample, Task

log = logging.getLogger(__name__)


def _infrastructure(exc: BaseException) -> bool:
    """Errors that say nothing about a sample: a dead or unreachable actor, a refused request, a timeout."""
    from ray.exceptions import GetTimeoutError, RayActorError

    from foundry.cluster.replicas import RequestFailed

    return isinstance(exc, (InfrastructureError, RayActorError, GetTimeoutError, RequestFailed,
                            asyncio.TimeoutError))


def _store_transient(exc: BaseException) -> bool:
    """Store errors worth waiting out: lost connections, timeouts, throttling and 5xx answers."""
    if isinstance(exc, CommitConflict):
        return False
    if isinstance(exc, OSError):
        return True
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no boto: only local stores
        return False
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or status == 429 or exc.response.get("Error", {}).get("Code") in ("SlowDown",
                                                                                               "Throttling")
    return isinstance(exc, BotoCoreError)


def describe(exc: BaseException) -> str:
    """One line for an error; for an error raised inside a Ray actor, the actor's own error, not Ray's wrapper."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        exc = cause
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"


@dataclass
class Retry:
    """Bounded retries with exponential backoff for infrastructure errors."""

    attempts: int = 4
    """Retries after the first try."""
    backoff_seconds: float = 1.0
    on_retry: Callable[[str, BaseException], None] = lambda what, exc: None

    async def __call__(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(self.attempts + 1):
            try:
                return await call()
            except Exception as exc:
                if not _infrastructure(exc):
                    raise
                if attempt == self.attempts:
                    raise InfrastructureExhausted(
                        f"{what}: {self.attempts + 1} attempts failed, last: {describe(exc)}") from exc
                self.on_retry(what, exc)
                await asyncio.sleep(min(self.backoff_seconds * 2**attempt, 30.0))


class PriorityGate:
    """At most `size` holders at once; when full, the waiter with the highest priority goes next (ties: first
    come). Lets an adaptive policy spend the replicas on the most informative tasks first."""

    def __init__(self, size: int):
        self.free = size
        self._waiters: list[tuple[float, int, asyncio.Future]] = []
        self._order = 0

    @contextlib.asynccontextmanager
    async def slot(self, priority: float):
        if self.free > 0 and not self._waiters:
            self.free -= 1
        else:
            self._order += 1
            waiter = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (-priority, self._order, waiter))
            try:
                await waiter  # the releaser handed its slot over
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # handed a slot just as we were cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


@dataclass
class Finished:
    """A task ready for the writer: its samples and its rows of other splits (excluded, tasks)."""

    task_id: str
    samples: list[Sample]
    extra: dict[str, list[dict]] = field(default_factory=dict)


async def _off_loop_if_blocking(gates: list[Any], work: Callable, *args: Any) -> Any:
    """Run gate work in a thread when a gate may wait (an LLM judge, an embedding model, an index in Ray actors:
    `blocking`, true unless a gate says otherwise), else on the loop. A gate that only computes (n-grams, MinHash:
    about 0.3 ms a sample) is cheaper here: in a thread it waits for the interpreter lock after every numpy call
    that released it, up to the loop's switch interval each time (benchmarks/p2_driver.py --gates: 2.2x slower)."""
    if any(getattr(gate, "blocking", True) for gate in gates):
        return await asyncio.to_thread(work, *args)
    return work(*args)


class Executor:
    """Runs tasks through the steps with bounded concurrency; `stats` is updated as tasks finish."""

    def __init__(self, *, sampler: TaskSampler, policy: Any, generate: Callable, verify: Callable, writer: Any,
                 stats: Any, retry: Retry, concurrency: int, commit_queue: int = 4096,
                 max_outage_seconds: float = 300.0, task_gates: Iterable[Any] = (),
                 sample_gates: Iterable[Any] = (), excluded_row: Callable[[Task, Any], dict] | None = None,
                 task_row: Callable[[Any], dict] | None = None, on_progress: Callable[[Any], None] = lambda s: None,
                 on_commit: Callable[[], None] = lambda: None):
        self.sampler, self.policy, self.writer, self.stats = sampler, policy, writer, stats
        self._generate, self._verify, self.retry = generate, verify, retry
        self.concurrency = concurrency
        self.commit_queue = commit_queue
        self.max_outage_seconds = max_outage_seconds
        self.task_gates, self.sample_gates = list(task_gates), list(sample_gates)
        self.excluded_row, self.task_row = excluded_row, task_row
        self.on_progress, self.on_commit = on_progress, on_commit
        self._uncommitted: list[Sample] = []
        """Accepted samples buffered in the writer, handed to the sample gates once committed."""

    async def run(self, tasks: Iterable[Task]) -> None:
        self._in_order = asyncio.Lock()
        """Held from an ordered sample gate's check to the queue: tasks reach the writer in the order they were
        gated, and it commits in that order."""
        self._queue: asyncio.Queue[Finished | None] = asyncio.Queue(maxsize=self.commit_queue)
        self._committer = committer = asyncio.ensure_future(self._commit_loop())
        capacity = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task] = set()
        failed: list[BaseException] = []

        def done(job: asyncio.Task) -> None:
            running.discard(job)
            capacity.release()
            if not job.cancelled() and job.exception() is not None:
                failed.append(job.exception())

        try:
            for task in tasks:
                if task.id in self.writer.completed_tasks:
                    self.stats.tasks_resumed += 1
                    for gate in self.task_gates:
                        gate.resumed(task)  # an earlier copy for dedup, as in an uninterrupted run
                    continue
                if committer.done() or failed:
                    break
                try:
                    exclusion = await self._excluded(task)
                except InfrastructureError as exc:  # a judge stayed unreachable: nothing is decided about the task
                    self.stats.tasks_failed_infra += 1
                    self.stats.failures.append(f"task {task.id}: quality gate: {exc}")
                    log.error("task %s: quality gate: %s (left uncommitted)", task.id, exc)
                    continue
                if exclusion is not None:
                    await self._put(Finished(task.id, [], {"excluded": [self.excluded_row(task, exclusion)]}))
                    self.stats.tasks_excluded += 1
                    continue
                await capacity.acquire()
                job = asyncio.ensure_future(self._task(task))
                running.add(job)
                job.add_done_callback(done)
            if running:
                await asyncio.wait(list(running))
        finally:
            for job in list(running):
                job.cancel()
            if not committer.done():
                await self._put(None, raise_stopped=False)
            await committer  # re-raises a store outage
        if failed:
            raise failed[0]

    async def _put(self, item: Finished | None, raise_stopped: bool = True) -> None:
        """Hand an item to the writer consumer; waits while the queue is full (a store outage), and raises if the
        consumer stopped (its error), so no producer waits forever on a writer that is gone."""
        if not self._committer.done() and not self._queue.full():
            self._queue.put_nowait(item)  # the usual case, without a task and a wait per finished task
            return
        put = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait([put, self._committer], return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            if raise_stopped:
                self._committer.result()  # the consumer's own error
                raise InfrastructureError("the writer stopped")

    async def _excluded(self, task: Task) -> Any:
        for gate in self.task_gates:
            exclusion = await _off_loop_if_blocking([gate], gate.check, task)
            if exclusion is not None:
                return exclusion
        return None

    async def _task(self, task: Task) -> None:
        budget = self.policy.start(task)
        priority = lambda: self.policy.priority(budget)  # noqa: E731 - read at each round, not once

        async def generate(request):
            return await self.retry(f"task {task.id}: generation", lambda: self._generate(request, priority()))

        async def verify(samples):
            return await self.retry(f"task {task.id}: verification", lambda: self._verify(samples))

        try:
            outcome = await self.sampler.run(task, budget, generate, verify)
        except PromptError as exc:
            self.stats.tasks_failed += 1
            self.stats.failures.append(str(exc))
            return
        except InfrastructureExhausted as exc:
            # Nothing about this task is decided: it stays uncommitted, and --resume samples it again.
            self.stats.tasks_failed_infra += 1
            self.stats.failures.append(str(exc))
            log.error("%s (left uncommitted)", exc)
            return
        samples = await self._gate_samples(outcome.samples, ordered=False)
        extra = {"tasks": [self.task_row(budget)]} if self.task_row else {}
        async with self._in_order:  # a gate that remembers what it passed sees tasks in the order they commit
            samples = await self._gate_samples(samples, ordered=True)
            await self._put(Finished(task.id, samples, extra))
        self.stats.count(samples)
        self.stats.tasks_done += 1
        self.on_progress(self.stats)

    async def _gate_samples(self, samples: list[Sample], ordered: bool) -> list[Sample]:
        """Accepted samples meet the sample gates (contamination, then duplicates) last; a hit is a rejection.
        `ordered` gates (dedup: they remember what they passed) run apart, in commit order."""
        gates = [gate for gate in self.sample_gates if getattr(gate, "ordered", False) == ordered]
        if not gates or not any(s.accepted for s in samples):
            return samples
        return await _off_loop_if_blocking(gates, self._apply_sample_gates, gates, samples)

    @staticmethod
    def _apply_sample_gates(gates: list[Any], samples: list[Sample]) -> list[Sample]:
        """Each gate sees the task's samples still accepted, all at once (one round trip for an index spread over
        actors); the first gate that objects rejects a sample, and later gates do not see it."""
        gated = list(samples)
        for gate in gates:
            open_ = [i for i, sample in enumerate(gated) if sample.accepted]
            if not open_:
                break
            for i, verdict in zip(open_, gate.check_many([gated[i] for i in open_])):
                if verdict is not None:
                    gated[i] = gated[i].model_copy(update={"verdicts": [*gated[i].verdicts, verdict],
                                                           "accepted": False})
        return gated

    async def _commit_loop(self) -> None:
        """The one writer consumer: buffers finished tasks, commits when due, all blocking work in a thread."""
        while True:
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout=max(self.writer.flush_seconds, 0.05))
            except asyncio.TimeoutError:
                item = ...  # a tick: a time-based flush may be due
            if item is None:
                await self._durably(self._flush_all)
                return
            if isinstance(item, Finished):
                self.writer.buffer(item.task_id, item.samples, item.extra)
                self._uncommitted += [s for s in item.samples if s.accepted]
                self.stats.last_write_at = time.time()
            if self.writer.due():
                await self._durably(self._flush)

    def _flush(self) -> None:
        self.writer.flush()
        self._committed()

    def _flush_all(self) -> None:
        self.writer.flush()
        self.writer.flush()  # what was buffered while a pending commit finished
        self._committed()

    def _committed(self) -> None:
        committed, self._uncommitted = self._uncommitted, []
        for gate in self.sample_gates:
            gate.committed(committed)
        self.on_commit()

    async def _durably(self, commit: Callable[[], None]) -> None:
        """Run a commit in a thread, retrying store errors with backoff for up to `max_outage_seconds`."""
        started, delay = None, 1.0
        while True:
            try:
                await asyncio.to_thread(commit)
                if started is not None:
                    log.warning("store reachable again after %.0fs; commits resumed", time.monotonic() - started)
                return
            except Exception as exc:
                if not _store_transient(exc):
                    raise
                now = time.monotonic()
                started = started if started is not None else now
                if now - started >= self.max_outage_seconds:
                    raise StoreOutage(
                        f"the store kept failing for {now - started:.0f}s (output.max_outage_seconds="
                        f"{self.max_outage_seconds:g}), last: {type(exc).__name__}: "
                        f"{(str(exc).splitlines() or [''])[0][:160]}") from exc
                self.stats.store_retries += 1
                log.warning("commit failed (%s); retrying in %.0fs", type(exc).__name__, delay)
                await asyncio.sleep(min(delay, max(self.max_outage_seconds - (now - started), 0.05)))
                delay = min(delay * 2, 30.0)
