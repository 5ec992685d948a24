"""A small campaign output written by the real ShardWriter, verdicts from the real verifier chain (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry.config import CampaignConfig
from foundry.generators.parsing import extract_answer, split_reasoning
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import open_store
from foundry.types import Sample, sample_id
from foundry.verifiers import build_chain

XSS = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2;alert(2)</script>'
"""A hostile completion fragment: if either part ran, `window.__xss` would be set and an alert would be open."""


def campaign_config(out: Path) -> CampaignConfig:
    return CampaignConfig.model_validate({
        "name": "review-test", "source": {"path": "tasks.jsonl"}, "output": {"path": str(out)},
        "verifiers": [{"kind": "sections"}, {"kind": "math", "reference_pattern": None}],
    })


def completion(number: int, answer: int) -> str:
    steps = f"1. Take {number} apples.\n2. Add one more.\n3. Count them: $x^2$ is not needed."
    hostile = f" {XSS}" if number == 0 else ""
    return f"<think>{steps}</think>So the answer is \\boxed{{{answer}}}.{hostile}"


def build_output(out: Path, tasks: int = 20) -> dict[str, Sample]:
    """Task i asks for i + 1; even tasks answered right (accepted), odd ones off by one (rejected by math)."""
    config = campaign_config(out)
    chain = build_chain(config)
    samples = {}
    store = open_store(str(out))
    with ShardWriter(store, max_rows=8, manifest_extra={"campaign": config.name,
                                                        "config": config.model_dump(mode="json")}) as writer:
        for number in range(tasks):
            task_id = f"t{number:02d}"
            text = completion(number, number + 1 + number % 2)
            reasoning, answer = split_reasoning(text)
            sample = Sample(id=sample_id(config.name, task_id, 0), task_id=task_id, sample_index=0,
                            prompt=f"What is {number} + 1? **Show** your steps.", completion=text,
                            reasoning=reasoning, answer=answer, final_answer=extract_answer(answer, ["boxed"]),
                            reference=str(number + 1))
            verdicts, accepted = chain.run(sample)
            sample = sample.model_copy(update={"verdicts": verdicts, "accepted": accepted})
            samples[sample.id] = sample
            writer.add_task(task_id, [sample])
    return samples


@pytest.fixture
def campaign_output(tmp_path: Path) -> tuple[Path, dict[str, Sample]]:
    out = tmp_path / "out"
    return out, build_output(out)
