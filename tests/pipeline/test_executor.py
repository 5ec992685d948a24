"""A whole campaign through the steps and the executor, in-process with fakes: no Ray, no engine.

The generator, verifier and store are fakes; the sampler, executor and the real ShardWriter on a local folder
are what is under test. Each defect of the pipeline-core issue has its regression test here.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pyarrow.parquet as pq
import pytest

from foundry.campaign import RunStats
from foundry.cluster.executor import Executor, PriorityGate, Retry
from foundry.errors import InfrastructureError, StoreOutage
from foundry.pipeline.sampler import TaskSampler
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import LocalStore
from foundry.types import Completion, GenerationResult, Sample, Task, Verdict


class Generator:
    """Completions are 'answer <i>' for the i-th sample; accepted when i is even."""

    def request(self, task, request_id, sampling):
        return {"task": task, "id": request_id, "n": sampling["n"]}

    def sample(self, task, result, completion, sid, index):
        return Sample(id=sid, task_id=task.id, sample_index=index, prompt=task.prompt, completion=completion.text)


class Budget:
    """Fixed budget: 4 samples in rounds of 2 (what `kind: fixed` does with n=2, max 4, no early stop)."""

    def __init__(self):
        self.done = 0
        self.stop_reason = None

    def next_n(self):
        n = min(2, 4 - self.done)
        if n == 0:
            self.stop_reason = "budget"
        return n

    def record(self, accepted):
        self.done += len(accepted)


class Policy:
    def start(self, task):
        return Budget()

    def priority(self, budget):
        return 0.0


async def generate(request, priority):
    await asyncio.sleep(0)
    return GenerationResult(request["id"], "p", 1, [Completion(text=f"answer {i}", completion_tokens=3)
                                                    for i in range(request["n"])], 0.0, "replica-0")


async def verify(samples):
    await asyncio.sleep(0)
    return [([Verdict(verifier="even", passed=s.sample_index % 2 == 0, score=1.0,
                      reason="" if s.sample_index % 2 == 0 else "odd")], s.sample_index % 2 == 0, None)
            for s in samples]


def tasks(n):
    return [Task(id=f"t{i}", prompt=f"question {i}") for i in range(n)]


def execute(store, task_list, *, gen=generate, ver=verify, retries=2, outage=60.0, flush_seconds=60.0,
            max_rows=10_000, stats=None, on_commit=lambda: None, task_gates=(), sample_gates=()):
    stats = stats or RunStats()
    writer = ShardWriter(store, max_rows=max_rows, flush_seconds=flush_seconds)
    with writer:
        executor = Executor(sampler=TaskSampler("unit", Generator(), {"temperature": 1.0}, lambda r: {}),
                            policy=Policy(), generate=gen, verify=ver, writer=writer, stats=stats,
                            retry=Retry(retries, 0.01), concurrency=8, max_outage_seconds=outage,
                            on_commit=on_commit, task_gates=task_gates, sample_gates=sample_gates)
        asyncio.run(executor.run(task_list))
    return stats, writer


def rows(root, split):
    found = []
    for path in sorted((root / "data").glob(f"{split}-*.parquet")):
        found += pq.read_table(path).to_pylist()
    return found


def test_a_campaign_runs_through_the_steps_without_ray(tmp_path):
    stats, _ = execute(LocalStore(tmp_path), tasks(10))
    accepted, rejected = rows(tmp_path, "accepted"), rows(tmp_path, "rejected")
    assert len(accepted) == 20 and len(rejected) == 20  # 10 tasks x 4 samples, indices 0 and 2 pass
    assert {r["sample_index"] for r in accepted} == {0, 2} and {r["sample_index"] for r in rejected} == {1, 3}
    assert len({r["id"] for r in accepted + rejected}) == 40
    assert stats.tasks_done == 10 and stats.tasks_failed_infra == 0


def test_an_infrastructure_failure_is_never_committed_as_a_rejection(tmp_path):
    """Defect 1: a judge that stays unreachable for one task leaves that task uncommitted, counted, resumable."""
    async def judge_down_for_t3(samples):
        if samples[0].task_id == "t3":
            raise InfrastructureError("judge http://127.0.0.1:9: ConnectError")
        return await verify(samples)

    stats, writer = execute(LocalStore(tmp_path), tasks(6), ver=judge_down_for_t3, retries=2)
    assert stats.tasks_failed_infra == 1
    assert "t3" not in writer.completed_tasks and len(writer.completed_tasks) == 5
    assert not [r for r in rows(tmp_path, "rejected") if r["task_id"] == "t3"]
    # --resume samples it again, and this time the judge answers
    stats, writer = execute(LocalStore(tmp_path), tasks(6))
    assert stats.tasks_resumed == 5 and stats.tasks_done == 1 and "t3" in writer.completed_tasks
    assert len(rows(tmp_path, "accepted")) == 12


class JudgeDownFor:
    """A task gate whose LLM judge cannot be reached for one task (it keeps every other task)."""

    def __init__(self, task_id):
        self.task_id, self.seen = task_id, []

    def check(self, task):
        self.seen.append(task.id)
        if task.id == self.task_id:
            raise InfrastructureError("judge: 4 attempts failed")
        return None

    def resumed(self, task):
        pass


def test_a_task_gate_whose_judge_stays_down_decides_nothing(tmp_path):
    stats, writer = execute(LocalStore(tmp_path), tasks(5), task_gates=[JudgeDownFor("t2")])
    assert stats.tasks_failed_infra == 1 and stats.tasks_done == 4 and stats.tasks_excluded == 0
    assert "t2" not in writer.completed_tasks and "quality gate" in stats.failures[0]
    assert not rows(tmp_path, "excluded")
    assert "t2" not in {r["task_id"] for r in rows(tmp_path, "accepted") + rows(tmp_path, "rejected")}
    # --resume: the gate is asked again about t2 only, and this time it answers
    gate = JudgeDownFor("none")
    stats, writer = execute(LocalStore(tmp_path), tasks(5), task_gates=[gate])
    assert gate.seen == ["t2"] and stats.tasks_done == 1 and "t2" in writer.completed_tasks


class ThreadRecorder:
    """A task and sample gate that keeps everything and notes which thread asked it."""

    def __init__(self, blocking=None):
        if blocking is not None:
            self.blocking = blocking
        self.threads = set()

    def check(self, task):
        self.threads.add(threading.get_ident())

    def check_many(self, samples):
        self.threads.add(threading.get_ident())
        return [None] * len(samples)

    def resumed(self, task):
        pass

    def committed(self, samples):
        pass


def test_gates_that_only_compute_run_on_the_loop_and_the_others_in_threads(tmp_path):
    """A gate that may wait (`blocking`, or saying nothing) must not hold up the loop; one that only computes runs on
    it, where numpy's releases of the interpreter lock do not make it wait behind the loop."""
    computing_task, waiting, computing_sample = ThreadRecorder(False), ThreadRecorder(True), ThreadRecorder(False)
    loop_threads = set()

    async def verify_noting_the_loop(samples):
        loop_threads.add(threading.get_ident())
        return await verify(samples)

    stats, _ = execute(LocalStore(tmp_path), tasks(6), ver=verify_noting_the_loop,
                       task_gates=[computing_task, waiting], sample_gates=[computing_sample])
    assert stats.tasks_done == 6 and len(loop_threads) == 1
    assert computing_task.threads == loop_threads and computing_sample.threads == loop_threads
    assert waiting.threads and not waiting.threads & loop_threads
    # a gate that says nothing may wait: it, and the sample gates run with it, go to a thread
    computing, silent = ThreadRecorder(False), ThreadRecorder()
    execute(LocalStore(tmp_path / "2"), tasks(2), ver=verify_noting_the_loop, sample_gates=[computing, silent])
    assert len(loop_threads) == 1
    assert computing.threads and silent.threads and not (computing.threads | silent.threads) & loop_threads


def test_a_transient_infrastructure_failure_is_retried(tmp_path):
    calls = {"n": 0}

    async def flaky(samples):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise InfrastructureError("verifier actor died")
        return await verify(samples)

    retried = []
    stats = RunStats()
    writer = ShardWriter(LocalStore(tmp_path))
    with writer:
        executor = Executor(sampler=TaskSampler("unit", Generator(), {}, lambda r: {}), policy=Policy(),
                            generate=generate, verify=flaky, writer=writer, stats=stats,
                            retry=Retry(3, 0.01, lambda what, exc: retried.append(what)), concurrency=1)
        asyncio.run(executor.run(tasks(1)))
    assert len(retried) == 2 and writer.completed_tasks == {"t0"}


def test_a_sample_bug_is_not_retried(tmp_path):
    async def broken(samples):
        raise KeyError("not infrastructure")

    with pytest.raises(KeyError):
        execute(LocalStore(tmp_path), tasks(2), ver=broken)


class SlowStore(LocalStore):
    """Every put takes `delay` seconds (a 256 MB shard on S3)."""

    def __init__(self, root, delay):
        super().__init__(root)
        self.delay = delay

    def put(self, key, data, if_absent=False):
        time.sleep(self.delay)
        return super().put(key, data, if_absent=if_absent)


def test_commits_do_not_block_dispatch(tmp_path):
    """Defect 2: while a slow commit runs, requests keep going out (the writer works in a thread)."""
    dispatched: list[float] = []
    commits: list[tuple[float, float]] = []
    store = SlowStore(tmp_path, 0.3)
    original = store.put

    def timed_put(key, data, if_absent=False):
        start = time.monotonic()
        original(key, data, if_absent=if_absent)
        commits.append((start, time.monotonic()))

    store.put = timed_put

    async def gen(request, priority):
        dispatched.append(time.monotonic())
        await asyncio.sleep(0.005)
        return await generate(request, priority)

    execute(store, tasks(200), gen=gen, max_rows=40)
    during = [t for t in dispatched if any(a <= t <= b for a, b in commits)]
    assert len(commits) >= 5
    assert len(during) > len(dispatched) / 4  # on the event loop, not one request could go out during a put


class FlakyStore(LocalStore):
    """Refuses every put while `down` is set: a store outage."""

    def __init__(self, root):
        super().__init__(root)
        self.down = threading.Event()
        self.refused = 0

    def put(self, key, data, if_absent=False):
        if self.down.is_set() and not key.startswith("_foundry/runs/"):
            self.refused += 1
            raise ConnectionError("Could not connect to the endpoint URL")
        return super().put(key, data, if_absent=if_absent)


def test_a_short_store_outage_is_ridden_out(tmp_path):
    """Defect 3: commits retry with backoff while the store is down; nothing lost or doubled."""
    store = FlakyStore(tmp_path)
    store.down.set()
    threading.Timer(2.5, store.down.clear).start()
    stats, writer = execute(store, tasks(40), flush_seconds=0.1, outage=30)
    assert store.refused > 0 and stats.store_retries > 0
    ids = [r["id"] for r in rows(tmp_path, "accepted") + rows(tmp_path, "rejected")]
    assert len(ids) == 160 and len(set(ids)) == 160 and len(writer.completed_tasks) == 40


def test_an_outage_past_its_budget_stops_the_run_resumably(tmp_path):
    store = FlakyStore(tmp_path)
    store.down.set()
    with pytest.raises(StoreOutage, match="max_outage_seconds"):
        execute(store, tasks(20), flush_seconds=0.05, outage=1.0)
    store.down.clear()
    stats, writer = execute(store, tasks(20))
    ids = [r["id"] for r in rows(tmp_path, "accepted") + rows(tmp_path, "rejected")]
    assert len(ids) == 80 and len(set(ids)) == 80 and len(writer.completed_tasks) == 20


def test_a_commit_whose_record_landed_but_whose_answer_was_lost_is_finished_not_doubled(tmp_path):
    """The retried commit reuses its prepared record, so a lost response cannot turn into a conflict."""
    store = LocalStore(tmp_path)
    writer = ShardWriter(store)
    with writer:
        writer.buffer("t0", [Sample(id="s0", task_id="t0", sample_index=0, accepted=True)])
        original = store.put
        lost = {"once": True}

        def put(key, data, if_absent=False):
            original(key, data, if_absent=if_absent)
            if key.startswith("_foundry/commits/") and lost.pop("once", False):
                raise ConnectionError("response lost after the write")

        store.put = put
        with pytest.raises(ConnectionError):
            writer.flush()
        writer.flush()
    assert len(rows(tmp_path, "accepted")) == 1
    assert len(list((tmp_path / "_foundry" / "commits").glob("*.json"))) == 1


def test_the_priority_gate_serves_the_highest_priority_first():
    order = []

    async def main():
        gate = PriorityGate(1)

        async def holder():
            async with gate.slot(0):
                await asyncio.sleep(0.05)

        async def waiter(name, priority):
            async with gate.slot(priority):
                order.append(name)

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0.01)
        await asyncio.gather(first, waiter("low", 0.1), waiter("high", 0.25), waiter("mid", 0.2))

    asyncio.run(main())
    assert order == ["high", "mid", "low"]
