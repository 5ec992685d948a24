"""Writes synthetic tasks through ShardWriter; with FOUNDRY_TEST_PAUSE it freezes at one point so a test can kill -9 it.

    python crash_writer.py OUTPUT [--endpoint URL]
    FOUNDRY_TEST_PAUSE=staged|committed|copied:SEQ  FOUNDRY_TEST_PAUSE_MARKER=FILE

At the chosen point of commit SEQ the child writes the marker file and blocks; the parent SIGKILLs it there.
The tests import `write_tasks` and `synthetic_samples` from here so the resumed run is the very same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from foundry.storage.manifest import COMMITS, STAGING
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import ObjectStore, open_store
from foundry.types import Sample, Verdict, sample_id

TASKS = [f"task-{n:03d}" for n in range(12)]
MAX_ROWS = 4  # 1 accepted + 2 rejected samples a task: a commit every 2 tasks, 6 commits with both splits


def synthetic_samples(task_id: str) -> list[Sample]:
    """Three samples of one task, the first accepted, with nested messages (tool calls) and verdicts."""
    samples = []
    for index in range(3):
        accepted = index == 0
        messages = [
            {"role": "user", "content": f"What is 2 + 2? ({task_id})"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": f"call-{index}", "type": "function",
                             "function": {"name": "python", "arguments": {"code": "print(2 + 2)"}}}]},
            {"role": "tool", "content": "4", "tool_call_id": f"call-{index}", "name": "python"},
            {"role": "assistant", "content": f"The answer is \\boxed{{{4 if accepted else 5}}}"},
        ]
        verdicts = [Verdict(verifier="format", passed=True, score=1.0, seconds=0.001),
                    Verdict(verifier="math", passed=accepted, score=float(accepted),
                            reason="" if accepted else "expected 4, got 5", seconds=0.01)]
        samples.append(Sample(id=sample_id("crash-test", task_id, index), task_id=task_id, sample_index=index,
                              messages=messages, completion=messages[-1]["content"], final_answer="4" if accepted
                              else "5", reference="4", verdicts=verdicts, accepted=accepted, completion_tokens=7,
                              provenance={"campaign": "crash-test", "model": "tiny", "engine_args": {"seed": 0}}))
    return samples


def write_tasks(store: ObjectStore, tasks: list[str] = TASKS, max_rows: int = MAX_ROWS) -> None:
    """The run under test: recover, then write every task not already committed."""
    with ShardWriter(store, max_rows=max_rows, flush_seconds=3600) as writer:
        for task_id in tasks:
            if task_id not in writer.completed_tasks:
                writer.add_task(task_id, synthetic_samples(task_id))


class PausingStore:
    """A real store that, at one point of one commit, writes a marker file and blocks until it is killed."""

    def __init__(self, store: ObjectStore, point: str, seq: int, marker: Path):
        self.store, self.point, self.marker = store, point, marker
        self.keys = {"staged": f"{STAGING}{seq:05d}-", "committed": f"{COMMITS}{seq:05d}.json",
                     "copied": f"data/accepted-{seq:05d}.parquet"}

    def __getattr__(self, name):
        return getattr(self.store, name)

    def _after(self, point: str, key: str) -> None:
        if point == self.point and key.startswith(self.keys[point]):
            self.marker.write_text(key)
            time.sleep(60)  # the parent kills us long before; never linger if it died
            os._exit(3)

    def put(self, key: str, data: bytes, if_absent: bool = False) -> None:
        self.store.put(key, data, if_absent)
        # After the first staged shard (accepted) of the commit: the rejected one is never staged.
        self._after("staged" if key.startswith(STAGING) else "committed", key)

    def copy(self, src: str, dst: str) -> None:
        self.store.copy(src, dst)
        self._after("copied", dst)  # mid-copy: accepted is in data/, rejected is not


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--endpoint")
    args = parser.parse_args()
    store = open_store(args.output, endpoint_url=args.endpoint)
    if pause := os.environ.get("FOUNDRY_TEST_PAUSE"):
        point, seq = pause.split(":")
        store = PausingStore(store, point, int(seq), Path(os.environ["FOUNDRY_TEST_PAUSE_MARKER"]))
    write_tasks(store)


if __name__ == "__main__":
    sys.exit(main())
