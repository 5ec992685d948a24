"""A committed campaign output written by the real ShardWriter (tasks of known outcome), for export and plot tests."""

from __future__ import annotations

from pathlib import Path

from foundry.sampling import TASKS_SCHEMA
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import open_store
from foundry.types import Sample, Verdict

SYSTEM = {"role": "system", "content": "Answer with \\boxed{}."}
# task id -> verdicts of its samples in order (True = accepted)
OUTCOMES = {"mid": [True, False, True, False], "easy": [True, True, True, True], "hard": [False, False, False, False]}


def sample(task_id: str, index: int, accepted: bool) -> Sample:
    user = {"role": "user", "content": f"Question {task_id}?"}
    answer = f"The answer is \\boxed{{{index}}}."
    completion = f"<think>thinking {task_id} {index}</think>\n\n{answer}"
    verdicts = [Verdict(verifier="math", passed=accepted, score=float(accepted),
                        reason="" if accepted else "wrong answer"),
                Verdict(verifier="length", passed=True, score=1.0)]
    return Sample(id=f"{task_id}-{index}", task_id=task_id, sample_index=index, prompt=f"Question {task_id}?",
                  messages=[SYSTEM, user, {"role": "assistant", "content": completion}], completion=completion,
                  reasoning=f"thinking {task_id} {index}", answer=answer, final_answer=str(index),
                  reference="42", tests={"cases": [task_id]}, verdicts=verdicts, accepted=accepted,
                  completion_tokens=10 + 5 * index + (20 if accepted else 0), generation_seconds=0.5)


def task_row(task_id: str, verdicts: list[bool]) -> dict:
    """A task-table row written by hand: uniform prior, so Beta(1 + accepted, 1 + rejected)."""
    a, r = sum(verdicts), len(verdicts) - sum(verdicts)
    return {"task_id": task_id, "policy": "fixed", "samples": len(verdicts), "accepted": a, "rounds": 1,
            "posterior_alpha": 1.0 + a, "posterior_beta": 1.0 + r, "pass_rate": (1 + a) / (2 + len(verdicts)),
            "pass_rate_lo": 0.01, "pass_rate_hi": 0.99, "stop_reason": "budget", "model": "m",
            "verifiers": [{"name": "math", "version": "1"}]}


def write_output(path: Path, *, tasks_table: bool = True, keep_rejected: bool = True,
                 one_commit_per_task: bool = True, runs: list[dict] | None = None) -> str:
    store = open_store(str(path))
    config = {"name": "y", "output": {"path": str(path), "keep_rejected": keep_rejected},
              "sampling_policy": {"kind": "fixed", "prior": {"alpha": 1.0, "beta": 1.0}}}
    writer = ShardWriter(store, schemas={"tasks": TASKS_SCHEMA}, keep_rejected=keep_rejected,
                         manifest_extra={"campaign": "y", "config": config, "runs": runs or []})
    with writer:
        for task_id, verdicts in OUTCOMES.items():
            extra = {"tasks": [task_row(task_id, verdicts)]} if tasks_table else None
            writer.add_task(task_id, [sample(task_id, i, ok) for i, ok in enumerate(verdicts)], extra)
            if one_commit_per_task:
                writer.flush()
    return str(path)
