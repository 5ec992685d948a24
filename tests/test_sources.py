"""Tasks from JSONL, parquet and Hugging Face datasets: bad rows are counted with a reason and skipped, never raised."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from foundry.config import SourceConfig
from foundry.sources import SourceError, SourceReport, check_source, load_tasks

# The HF path must never reach the network; these are read when `datasets` is first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def load(config: SourceConfig) -> tuple[list, SourceReport]:
    report = SourceReport()
    return list(load_tasks(config, report)), report


# --- JSONL ------------------------------------------------------------------------------------------------------

def test_jsonl_with_a_field_mapping(tmp_path):
    path = write_jsonl(tmp_path / "gsm.jsonl", [
        {"uid": "q1", "question": "What is 2+2?", "solution": "#### 4", "level": 1},
        {"uid": 7, "question": "What is 3+3?", "solution": 6, "level": 2},
    ])
    config = SourceConfig(path=str(path), fields={"id": "uid", "prompt": "question", "reference": "solution"})
    tasks, report = load(config)
    assert [t.id for t in tasks] == ["q1", "7"]
    assert [t.prompt for t in tasks] == ["What is 2+2?", "What is 3+3?"]
    assert [t.reference for t in tasks] == ["#### 4", "6"], "references become strings"
    assert [t.metadata for t in tasks] == [{"level": 1}, {"level": 2}], "unmapped columns go to metadata"
    assert tasks[0].messages is None and tasks[0].tests is None
    assert report.as_dict() == {"rows": 2, "tasks": 2, "skipped": {}, "examples": []}


def test_rows_without_an_id_are_numbered_by_position(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a"}, {"prompt": "b"}])
    tasks, _ = load(SourceConfig(path=str(path)))
    assert [t.id for t in tasks] == ["row-0", "row-1"]
    mapped_off = SourceConfig(path=str(path), fields={"id": None})
    assert [t.id for t in load(mapped_off)[0]] == ["row-0", "row-1"]


def test_messages_win_over_prompt_and_tests_are_kept(tmp_path):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    tests = [{"input": "1", "output": "2"}]
    path = write_jsonl(tmp_path / "t.jsonl", [{"id": "a", "prompt": "ignored", "messages": messages, "tests": tests}])
    [task], _ = load(SourceConfig(path=str(path)))
    assert task.messages == messages and task.prompt is None
    assert task.tests == tests


def test_a_list_of_test_columns_becomes_a_dict(tmp_path):
    row = {"task_id": "HumanEval/0", "prompt": "def f():", "test": "assert f() == 1", "entry_point": "f",
           "canonical_solution": "return 1"}
    path = write_jsonl(tmp_path / "he.jsonl", [row])
    config = SourceConfig(path=str(path), fields={"id": "task_id", "tests": ["test", "entry_point", "prompt"]})
    [task], _ = load(config)
    assert task.tests == {"test": "assert f() == 1", "entry_point": "f", "prompt": "def f():"}
    assert task.prompt == "def f():", "a column can be both the prompt and part of the tests"
    assert task.metadata == {"canonical_solution": "return 1"}


def test_bad_rows_are_counted_with_reasons_and_skipped(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [
        {"id": "ok-1", "prompt": "fine"},                        # 0
        '{"id": "broken", "prompt": ',                          # 1 invalid JSON
        "[1, 2, 3]",                                            # 2 not an object
        '"just a string"',                                      # 3 not an object
        {"id": "no-prompt", "answer": "4"},                     # 4
        {"id": "blank", "prompt": "   "},                       # 5
        {"id": "bad-msgs", "messages": "hello"},                # 6
        {"id": "no-role", "messages": [{"content": "hi"}]},      # 7
        {"id": "empty-msgs", "messages": []},                   # 8
        {"id": "ok-1", "prompt": "duplicate"},                  # 9
        "",                                                     # 10 blank line: not a row
        {"id": "ok-2", "messages": [{"role": "user", "content": "hi"}]},  # 11
    ])
    tasks, report = load(SourceConfig(path=str(path)))
    assert [t.id for t in tasks] == ["ok-1", "ok-2"]
    assert tasks[0].prompt == "fine", "the first of two duplicates is kept"
    assert report.rows == 11 and report.tasks == 2
    assert sum(report.skipped.values()) == 9
    reasons = report.skipped
    assert reasons["not a JSON object"] == 2
    assert reasons["no prompt ('prompt') or messages ('messages')"] == 2
    assert reasons["malformed 'messages' (expected a list of {role, content})"] == 3
    assert reasons["duplicate task id 'ok-1'"] == 1
    [invalid] = [r for r in reasons if r.startswith("invalid JSON (")]
    assert reasons[invalid] == 1
    assert report.examples[0] == f"row 1: {invalid}"
    assert len(report.examples) == 5, "examples are capped"
    assert all(example.startswith("row ") for example in report.examples)


def test_a_file_of_only_bad_rows_yields_nothing_and_does_not_raise(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", ["{", "null", "42", '{"prompt": null}'])
    tasks, report = load(SourceConfig(path=str(path)))
    assert tasks == []
    assert report.rows == 4 and report.tasks == 0 and sum(report.skipped.values()) == 4


def test_undecodable_bytes_do_not_stop_the_file(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"id": "a", "prompt": "caf\xe9"}\n{"id": "b", "prompt": "ok"}\n')
    tasks, report = load(SourceConfig(path=str(path)))
    assert [t.id for t in tasks] == ["a", "b"]
    assert tasks[0].prompt.startswith("caf")


def test_limit_counts_rows_including_bad_ones(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a"}, "{", {"prompt": "c"}, {"prompt": "d"}])
    tasks, report = load(SourceConfig(path=str(path), limit=3))
    assert [t.prompt for t in tasks] == ["a", "c"]
    assert report.rows == 3 and report.tasks == 2
    tasks, _ = load(SourceConfig(path=str(path), limit=1))
    assert [t.prompt for t in tasks] == ["a"]


def test_tasks_are_streamed(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a"}, {"prompt": "b"}])
    report = SourceReport()
    tasks = load_tasks(SourceConfig(path=str(path)), report)
    assert next(tasks).prompt == "a"
    assert report.tasks == 1


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_missing_jsonl_file_raises_source_error_naming_the_field(tmp_path, suffix):
    config = SourceConfig(path=str(tmp_path / f"missing{suffix}"))
    with pytest.raises(SourceError, match=r"^source\.path: .*missing"):
        list(load_tasks(config))
    with pytest.raises(SourceError, match=r"^source\.path: no such file"):
        check_source(config)


def test_check_source_accepts_an_existing_file_and_leaves_hub_names_alone(tmp_path):
    check_source(SourceConfig(path=str(write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a"}]))))
    check_source(SourceConfig(path="openai/gsm8k", format="hf"))


# --- parquet and Hugging Face datasets --------------------------------------------------------------------------

ROWS = [
    {"id": "p1", "question": "What is 1+1?", "answer": "2", "level": 1},
    {"id": "p2", "question": "", "answer": "3", "level": 2},            # no prompt: skipped
    {"id": "p3", "question": "What is 2+2?", "answer": "4", "level": 3},
    {"id": "p1", "question": "again", "answer": "2", "level": 4},         # duplicate: skipped
]


@pytest.fixture
def hf_offline(tmp_path, monkeypatch):
    """`datasets` with a private cache and no network."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return datasets


def test_parquet_with_a_field_mapping(tmp_path, hf_offline):
    path = tmp_path / "tasks.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    tasks, report = load(SourceConfig(path=str(path), fields={"prompt": "question"}))
    assert [(t.id, t.prompt, t.reference, t.metadata) for t in tasks] == [
        ("p1", "What is 1+1?", "2", {"level": 1}),
        ("p3", "What is 2+2?", "4", {"level": 3}),
    ]
    assert report.rows == 4 and report.tasks == 2
    assert report.skipped == {"no prompt ('question') or messages ('messages')": 1, "duplicate task id 'p1'": 1}


def test_parquet_limit(tmp_path, hf_offline):
    path = tmp_path / "tasks.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    tasks, report = load(SourceConfig(path=str(path), fields={"prompt": "question"}, limit=1))
    assert [t.id for t in tasks] == ["p1"] and report.rows == 1


def test_a_missing_parquet_file_raises_source_error_naming_the_field(tmp_path):
    with pytest.raises(SourceError, match=r"^source\.path: no such file .*missing\.parquet"):
        list(load_tasks(SourceConfig(path=str(tmp_path / "missing.parquet"))))


def _hf_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "my-dataset"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(ROWS), folder / "data" / "train-00000-of-00001.parquet")
    test_rows = [{"id": "t1", "question": "Test?", "answer": "1", "level": 9}]
    pq.write_table(pa.Table.from_pylist(test_rows), folder / "data" / "test-00000-of-00001.parquet")
    return folder


def test_hf_dataset_folder_through_load_dataset(tmp_path, hf_offline):
    folder = _hf_folder(tmp_path)
    train, report = load(SourceConfig(format="hf", path=str(folder), fields={"prompt": "question"}))
    assert [t.id for t in train] == ["p1", "p3"]
    assert report.rows == 4 and sum(report.skipped.values()) == 2
    [test] = load(SourceConfig(format="hf", path=str(folder), split="test", fields={"prompt": "question"}))[0]
    assert (test.id, test.prompt, test.reference, test.metadata) == ("t1", "Test?", "1", {"level": 9})


def test_a_folder_path_is_read_as_hf_without_format(tmp_path, hf_offline):
    folder = _hf_folder(tmp_path)
    tasks, _ = load(SourceConfig(path=str(folder), split="test", fields={"prompt": "question"}))
    assert [t.id for t in tasks] == ["t1"]


@pytest.mark.parametrize(
    ("path", "split"),
    [("{tmp}/no-such-dataset", "train"), ("{tmp}/my-dataset", "validation"), ("nobody/no-such-dataset-xyz", "train")],
    ids=["missing-folder", "missing-split", "hub-offline"],
)
def test_an_unloadable_hf_dataset_raises_source_error(tmp_path, hf_offline, path, split):
    _hf_folder(tmp_path)
    config = SourceConfig(format="hf", path=path.format(tmp=tmp_path), split=split)
    with pytest.raises(SourceError, match=r"^source: cannot load dataset") as caught:
        list(load_tasks(config))
    assert "\n" not in str(caught.value)
