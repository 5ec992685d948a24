"""The `quality:` block: the issue's example validates, paths resolve like source.path, bad input is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from foundry.cli import app
from foundry.config import ConfigError, load_config

DATA = Path(__file__).resolve().parents[2] / "configs" / "data"
EXAMPLE = """
quality:
  decontaminate:
    benchmarks:                       # any number; local jsonl/parquet or a datasets name (format: hf)
      - {name: gsm8k, path: data/gsm8k-test.jsonl, fields: {text: question, answer: answer}}
      - {name: humaneval, path: data/humaneval.jsonl, fields: {text: prompt}}
    check: [prompt, completion]       # tasks are checked before generation; samples before commit
  dedup:
    tasks: exact                      # drop repeated prompts before generation
    samples: near                     # exact | near: reject near-duplicate accepted samples (MinHash)
    threshold: 0.8
"""


def write(tmp_path: Path, quality_yaml: str = EXAMPLE, **extra) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "gsm8k-test.jsonl").write_text((DATA / "gsm8k-test-sample.jsonl").read_text())
    (tmp_path / "data" / "humaneval.jsonl").write_text((DATA / "humaneval-sample.jsonl").read_text())
    body = {"name": "q", "source": {"path": str(DATA / "arithmetic.jsonl")}, "output": {"path": "out"}, **extra}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(body) + quality_yaml)
    return path


def test_the_issue_example_validates_with_defaults(tmp_path):
    quality = load_config(write(tmp_path)).quality
    first, second = quality.decontaminate.benchmarks
    assert first.path == str((tmp_path / "data" / "gsm8k-test.jsonl").resolve())  # relative to the config file
    assert (first.fields.text, first.fields.answer, second.fields.text) == ("question", "answer", "prompt")
    assert quality.decontaminate.check == ["prompt", "completion"]
    assert (quality.decontaminate.ngram.n, quality.decontaminate.ngram.threshold) == (8, 0.5)
    assert quality.decontaminate.embedding.enabled and quality.decontaminate.embedding.threshold == 0.85
    assert (quality.dedup.tasks, quality.dedup.samples, quality.dedup.threshold) == ("exact", "near", 0.8)


def test_quality_is_optional(tmp_path):
    assert load_config(write(tmp_path, "")).quality is None


def test_embedding_false_turns_the_semantic_stage_off(tmp_path):
    text = EXAMPLE.replace("    check: [prompt, completion]", "    embedding: false\n    ngram: {n: 13}")
    decontaminate = load_config(write(tmp_path, text)).quality.decontaminate
    assert decontaminate.embedding.enabled is False and decontaminate.ngram.n == 13


def test_hf_benchmark_names_are_left_alone(tmp_path):
    text = EXAMPLE.replace("path: data/humaneval.jsonl,", "path: openai/openai_humaneval, format: hf,")
    assert load_config(write(tmp_path, text)).quality.decontaminate.benchmarks[1].path == "openai/openai_humaneval"


@pytest.mark.parametrize(("change", "expected"), [
    (("data/humaneval.jsonl", "data/missing.jsonl"), "quality.decontaminate.benchmarks.1.path: no such file"),
    (("tasks: exact", "tasks: fuzzy"), "quality.dedup.tasks: Input should be 'none', 'exact' or 'near'"),
    (("threshold: 0.8", "threshold: 1.5"), "quality.dedup.threshold: Input should be less than or equal to 1"),
    (("check: [prompt, completion]", "check: [prompt, answer]"), "quality.decontaminate.check.1"),
    (("name: humaneval", "name: gsm8k"), "benchmark names must be unique"),
    (("    threshold: 0.8", "    threshold: 0.8\n    fuzz: 3"), "quality.dedup.fuzz: unknown field"),
])
def test_bad_quality_blocks_are_one_line_naming_the_field(tmp_path, change, expected):
    path = write(tmp_path, EXAMPLE.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{path}: ") and expected in caught.value.problems[0]


def test_validate_command_exits_2_with_one_line(tmp_path):
    path = write(tmp_path, EXAMPLE.replace("data/humaneval.jsonl", "data/missing.jsonl"))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "missing.jsonl" in lines[0] and "benchmarks.1.path" in lines[0]
    assert "Traceback" not in result.output


def test_judge_true_asks_the_campaigns_replicas_in_a_narrow_gray_zone(tmp_path):
    text = EXAMPLE.replace("    check: [prompt, completion]", "    judge: true")
    judge = load_config(write(tmp_path, text)).quality.decontaminate.judge
    assert (judge.kind, judge.min_cosine, judge.min_closeness) == ("generator", 0.5, 1.125)
    assert load_config(write(tmp_path)).quality.decontaminate.judge is None


@pytest.mark.parametrize(("judge", "expected"), [
    ("judge: true\n    embedding: false", "the judge confirms the embedding stage's neighbours"),
    ("judge: {kind: openai}", "an openai judge needs base_url and model"),
    ("judge: {min_closeness: 4}", "quality.decontaminate.judge.min_closeness"),
])
def test_bad_judge_blocks_are_one_line(tmp_path, judge, expected):
    path = write(tmp_path, EXAMPLE.replace("check: [prompt, completion]", judge))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 1 and expected in caught.value.problems[0]


def test_the_json_schema_accepts_the_boolean_switches():
    import jsonschema

    from foundry.config import CampaignConfig

    schema = CampaignConfig.model_json_schema()
    base = {"name": "q", "source": {"path": "x.jsonl"}, "output": {"path": "out"}}
    for block in ({"embedding": False}, {"judge": True}, {"judge": {"kind": "generator", "min_closeness": 1.2}}):
        jsonschema.validate({**base, "quality": {"decontaminate": {"benchmarks": [GSM8K_BENCH], **block}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**base, "quality": {"decontaminate": {"benchmarks": [GSM8K_BENCH], "judge": "yes"}}},
                            schema)


GSM8K_BENCH = {"name": "gsm8k", "path": "gsm8k.jsonl"}
