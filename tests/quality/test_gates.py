"""The gates as the executor uses them: built from a campaign config, checked task by task and sample by sample,
told about commits; no Ray, no engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from foundry.config import load_config
from foundry.quality import EXCLUDED_SCHEMA, build_gates, excluded_row
from foundry.quality.benchmarks import QualityInputError
from foundry.quality.gates import SampleDecontaminationGate, SampleDedupGate, TaskDecontaminationGate, TaskDedupGate
from foundry.sources import SourceError
from foundry.types import Sample, Task

DATA = Path(__file__).resolve().parents[2] / "configs" / "data"


def campaign(tmp_path: Path, quality: dict) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    shutil.copy(DATA / "gsm8k-test-sample.jsonl", tmp_path / "data" / "gsm8k-test.jsonl")
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({"name": "gated", "source": {"path": str(DATA / "arithmetic.jsonl")},
                                    "output": {"path": "out"}, "quality": quality}))
    return path


GSM8K = {"name": "gsm8k", "path": "data/gsm8k-test.jsonl", "fields": {"text": "question", "answer": "answer"}}
FULL = {"decontaminate": {"benchmarks": [GSM8K], "embedding": False},
        "dedup": {"tasks": "exact", "samples": "near", "threshold": 0.8}}


@pytest.fixture(scope="module")
def rows():
    return [json.loads(line) for line in (DATA / "gsm8k-test-sample.jsonl").read_text().splitlines()]


@pytest.fixture
def gates(tmp_path):
    return build_gates(load_config(campaign(tmp_path, FULL)))


def sample(sid: str, task: str, text: str, index: int = 0, accepted: bool = True) -> Sample:
    return Sample(id=sid, task_id=task, sample_index=index, completion=text, accepted=accepted)


def test_no_quality_block_means_no_gates(tmp_path):
    path = campaign(tmp_path, FULL)
    data = yaml.safe_load(path.read_text())
    del data["quality"]
    path.write_text(yaml.safe_dump(data))
    built = build_gates(load_config(path))
    assert built.task_gates == [] and built.sample_gates == []


def test_gate_order_dedup_then_decontamination_for_tasks(gates):
    assert [type(g) for g in gates.task_gates] == [TaskDedupGate, TaskDecontaminationGate]
    assert [type(g) for g in gates.sample_gates] == [SampleDecontaminationGate, SampleDedupGate]


def test_check_lists_choose_the_gates(tmp_path):
    quality = {"decontaminate": {"benchmarks": [GSM8K], "embedding": False, "check": ["completion"]}}
    built = build_gates(load_config(campaign(tmp_path, quality)))
    assert built.task_gates == [] and [type(g) for g in built.sample_gates] == [SampleDecontaminationGate]


def test_contaminated_task_is_excluded_with_its_reason(gates, rows):
    decontaminate = gates.task_gates[1]
    task = Task(id="t1", prompt="Solve: " + rows[5]["question"])
    exclusion = decontaminate.check(task)
    assert (exclusion.gate, exclusion.benchmark, exclusion.item_id, exclusion.method) == \
        ("decontaminate", "gsm8k", "gsm8k-test-0005", "ngram")
    assert exclusion.score == 1.0 and "gsm8k item gsm8k-test-0005" in exclusion.reason
    row = excluded_row(task, exclusion)
    table = pa.Table.from_pylist([row], schema=EXCLUDED_SCHEMA)
    assert table.to_pylist() == [{"task_id": "t1", "prompt": task.prompt, "gate": "decontaminate",
                                  "reason": exclusion.reason, "method": "ngram", "score": 1.0, "benchmark": "gsm8k",
                                  "item_id": "gsm8k-test-0005", "duplicate_of": None}]
    assert decontaminate.check(Task(id="t2", prompt="What is 2 + 3? Answer with one number.")) is None


def test_chat_tasks_are_checked_by_their_messages(gates, rows):
    task = Task(id="m1", messages=[{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": rows[7]["question"]}])
    assert gates.task_gates[1].check(task).item_id == "gsm8k-test-0007"


def test_repeated_task_is_excluded_and_points_at_the_first(gates):
    dedup = gates.task_gates[0]
    assert dedup.check(Task(id="a", prompt="What is 2 + 3?")) is None
    exclusion = dedup.check(Task(id="b", prompt="what is 2+3"))  # "2+3" normalizes to "2 3" like "2 + 3"
    assert (exclusion.gate, exclusion.method, exclusion.duplicate_of) == ("dedup", "exact", "a")
    assert excluded_row(Task(id="b", prompt="what is 2+3"), exclusion)["duplicate_of"] == "a"
    assert dedup.check(Task(id="c", prompt="What is 2 + 4?")) is None


def test_task_dedup_after_resume_matches_an_uninterrupted_run(tmp_path):
    tasks = [Task(id="a", prompt="What is 2 + 3?"), Task(id="b", prompt="What is 2 + 3 ?"),
             Task(id="c", prompt="What is 7 - 1?")]
    uninterrupted = build_gates(load_config(campaign(tmp_path, FULL))).task_gates[0]
    expected = [uninterrupted.check(t) for t in tasks]
    resumed = build_gates(load_config(campaign(tmp_path, FULL))).task_gates[0]
    resumed.resumed(tasks[0])  # committed before the crash: skipped by resume, still an earlier copy
    assert [resumed.check(t) for t in tasks[1:]] == expected[1:]
    assert expected[1].duplicate_of == "a"


def test_a_sample_is_an_earlier_copy_as_soon_as_it_is_gated(gates):
    """Copies within one commit window are caught (the executor gates tasks in commit order, so a crash that loses
    s1 loses s2's rejection too); what the gate rejected is never an earlier copy."""
    dedup = gates.sample_gates[1]
    text = "Let me think. Three plus four is seven, so the answer is 7. " * 3
    assert dedup.check(sample("s1", "A", text)) is None
    verdict = dedup.check(sample("s2", "B", text))
    assert (verdict.verifier, verdict.passed) == ("dedup", False) and "exact duplicate of sample s1" in verdict.reason
    verdict = dedup.check(sample("s3", "C", text + " Done."))
    assert verdict.reason.startswith("near-duplicate of sample s1")
    dedup.committed([sample("s1", "A", text)])
    assert "s1" in dedup.check(sample("s4", "D", text)).reason  # committed: still the earlier copy
    assert dedup._queued == set()  # what was gated and committed is not held twice


def test_samples_of_one_task_are_deduplicated_in_index_order(gates):
    dedup = gates.sample_gates[1]
    text = "The answer is 12 because 3 times 4 is 12, as I checked twice."
    later, earlier = sample("x1", "T", text.upper(), 1), sample("x0", "T", text, 0)
    verdicts = dedup.check_many([later, earlier])
    assert verdicts[1] is None and "x0" in verdicts[0].reason  # the lower index is the original, in any order
    assert dedup.check(sample("x0", "T", text, 0)) is None  # the same sample checked again is not its own copy
    assert "x0" in dedup.check(sample("y0", "U", text, 0)).reason  # another task, gated later


def test_resumed_run_rebuilds_sample_dedup_from_shard_rows(gates):
    dedup = gates.sample_gates[1]
    text = "First I add the two numbers, then I divide by two, and the mean is 5."
    dedup.committed([{"id": "old", "task_id": "A", "completion": text, "accepted": True}])
    assert "old" in dedup.check(sample("new", "B", text)).reason


def test_contaminated_sample_is_rejected_naming_the_item(gates, rows):
    verdict = gates.sample_gates[0].check(sample("s", "T", "Here is the worked solution. " + rows[1]["answer"]))
    assert (verdict.verifier, verdict.passed) == ("decontaminate", False)
    assert verdict.reason.startswith("gsm8k item gsm8k-test-0001 (answer): n-gram coverage")
    assert gates.sample_gates[0].check(sample("s", "T", "Two plus two is four.")) is None


def test_embedding_stage_in_the_gate(tmp_path, rows, embedder, monkeypatch):
    import foundry.quality.gates as gates_module

    # the session's model, not a second load
    monkeypatch.setattr(gates_module, "Embedder", lambda *args, **kwargs: embedder)
    quality = {"decontaminate": {"benchmarks": [GSM8K], "embedding": {"threshold": 0.85}}}
    built = build_gates(load_config(campaign(tmp_path, quality)))
    task = Task(id="r", prompt="Seattle has 20 sheep. Charleston owns four times as many sheep as Seattle, and "
                "Toulouse owns twice the number Charleston has. What is the total number of sheep in the three "
                "cities?")
    exclusion = built.task_gates[0].check(task)
    assert (exclusion.method, exclusion.item_id) == ("embedding", "gsm8k-test-0006")
    assert built.task_gates[0].blocking  # the model may make it wait: the executor runs it in a thread


def test_missing_benchmark_field_names_file_and_field(tmp_path):
    bad = {"decontaminate": {"benchmarks": [{**GSM8K, "fields": {"text": "problem"}}], "embedding": False}}
    with pytest.raises(QualityInputError) as caught:
        build_gates(load_config(campaign(tmp_path, bad)))
    message = str(caught.value)
    assert "gsm8k-test.jsonl" in message and "'problem'" in message and "fields.text" in message
    assert "\n" not in message
    assert isinstance(caught.value, SourceError)  # `foundry run` turns it into exit status 2


def test_completions_are_embedded_only_when_asked(tmp_path, embedder, monkeypatch):
    import foundry.quality.gates as gates_module

    monkeypatch.setattr(gates_module, "Embedder", lambda *args, **kwargs: embedder)
    reworded = ("Every day Janet's ducks produce 16 eggs. Each morning she has three of them for breakfast, and she "
                "uses four to bake muffins for her friends daily. The rest she sells at the farmers' market for $2 "
                "apiece. How many dollars does she earn daily at the market?")
    for completions, flagged in ((False, False), (True, True)):
        quality = {"decontaminate": {"benchmarks": [GSM8K], "embedding": {"completions": completions}}}
        gate = build_gates(load_config(campaign(tmp_path, quality))).sample_gates[0]
        assert (gate.check(sample("s", "T", reworded)) is not None) == flagged
        assert gate.blocking == completions  # the model may make it wait: the executor runs it in a thread


def test_gates_say_whether_they_may_wait(tmp_path, gates):
    """Without the embedding stage every gate only computes (the executor runs it on its loop); the task
    decontamination gate with embeddings, and sample dedup over an index in actors, may wait."""
    assert [g.blocking for g in gates.task_gates + gates.sample_gates] == [False, False, False, False]
    spread = build_gates(load_config(campaign(tmp_path, FULL)), spread=lambda dedup, partitions: object())
    assert spread.sample_gates[-1].blocking


def test_the_task_gate_asks_the_judge_it_is_given(tmp_path, embedder, monkeypatch):
    import foundry.quality.gates as gates_module

    monkeypatch.setattr(gates_module, "Embedder", lambda *args, **kwargs: embedder)

    class Yes:
        model, calls = "test", 0

        def complete(self, *args, **kwargs):
            Yes.calls += 1
            return '{"same": true}'

    reworded = ("Tomasz chooses to attempt flipping a home. He purchases a home for $91,000 and after that puts in "
                "$62,000 in repairs. This raised the value of the home by 120%. What amount of profit did he earn?")
    quality = {"decontaminate": {"benchmarks": [GSM8K], "judge": True}}
    config = load_config(campaign(tmp_path, quality))
    assert build_gates(config).task_gates[0].check(Task(id="r", prompt=reworded)) is None  # no judge given: none asked
    built = build_gates(config, judge=Yes())
    exclusion = built.task_gates[0].check(Task(id="r", prompt=reworded))
    assert (exclusion.method, exclusion.item_id, Yes.calls) == ("judge", "gsm8k-test-0002", 1)
    assert built.judge.counts.confirmed == 1


def test_the_embedding_model_runs_on_the_configured_device(tmp_path, monkeypatch):
    import numpy as np

    import foundry.quality.gates as gates_module

    devices = []

    class Recording:
        def __init__(self, model, cache_dir, device=None):
            devices.append(device)

        def encode(self, texts):
            return np.zeros((len(texts), 4), dtype=np.float32)

    monkeypatch.setattr(gates_module, "Embedder", Recording)
    for device in ("cuda:1", None):
        quality = {"decontaminate": {"benchmarks": [GSM8K], "embedding": {"device": device}}}
        build_gates(load_config(campaign(tmp_path, quality)))
    assert devices == ["cuda:1", None]  # None: sentence-transformers picks an accelerator if torch sees one
