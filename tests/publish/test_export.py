"""`foundry export`: SFT, preference and RL parquet read back with `datasets`, rows checked against the tasks of
known outcome in yield_output.py; bad input is one line and exit 2."""

from __future__ import annotations

import pytest
from datasets import load_dataset
from scipy import stats
from typer.testing import CliRunner
from publish.yield_output import OUTCOMES, SYSTEM, write_output

from foundry.cli import app
from foundry.publish.export import ExportError, ExportOptions, export, pairs


def load(folder):
    return load_dataset("parquet", data_files=str(folder / "data" / "train-*.parquet"), split="train")


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    return write_output(tmp_path_factory.mktemp("out") / "campaign")


def test_sft_is_accepted_samples_with_the_think_block(output, tmp_path):
    summary = export(output, str(tmp_path), ExportOptions("sft"))
    rows = load(tmp_path)
    assert summary.rows == len(rows) == 6  # mid: 2, easy: 4, hard: 0
    assert sorted(rows["id"]) == ["easy-0", "easy-1", "easy-2", "easy-3", "mid-0", "mid-2"]
    row = next(r for r in rows if r["id"] == "mid-2")
    assert row["messages"] == [SYSTEM, {"role": "user", "content": "Question mid?"},
                               {"role": "assistant",
                                "content": "<think>\nthinking mid 2\n</think>\n\nThe answer is \\boxed{2}."}]


def test_sft_can_drop_the_reasoning(output, tmp_path):
    export(output, str(tmp_path), ExportOptions("sft", drop_reasoning=True))
    contents = [r["messages"][-1]["content"] for r in load(tmp_path)]
    assert all("<think>" not in c and "thinking" not in c and c.startswith("The answer is") for c in contents)


def test_preference_pairs_are_accepted_against_rejected_of_the_same_task(output, tmp_path):
    export(output, str(tmp_path), ExportOptions("preference", max_pairs_per_task=3))
    rows = load(tmp_path)
    # only "mid" has both: 2 accepted x 2 rejected = 4 distinct pairs, capped at 3
    assert len(rows) == 3 and set(rows["task_id"]) == {"mid"}
    assert [(r["chosen_id"], r["rejected_id"]) for r in rows] == [("mid-0", "mid-1"), ("mid-2", "mid-3"),
                                                                  ("mid-0", "mid-3")]
    for row in rows:
        assert row["prompt"] == [SYSTEM, {"role": "user", "content": "Question mid?"}]
        assert OUTCOMES["mid"][int(row["chosen_id"][-1])] and not OUTCOMES["mid"][int(row["rejected_id"][-1])]
        assert all(v["passed"] for v in row["chosen_verdicts"])
        assert [v["reason"] for v in row["rejected_verdicts"] if not v["passed"]] == ["wrong answer"]
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        assert row["chosen_id"][-1] in row["chosen"][0]["content"]


def test_preference_default_is_one_pair_per_task(output, tmp_path):
    export(output, str(tmp_path), ExportOptions("preference"))
    assert len(load(tmp_path)) == 1


def test_pairs_spread_over_samples():
    assert pairs("ab", "xyz", 10) == [("a", "x"), ("b", "y"), ("a", "y"), ("b", "z"), ("a", "z"), ("b", "x")]


def test_rl_rows_from_the_task_table_filtered_by_band(output, tmp_path):
    # task table: mid Beta(3, 3) -> 0.5, easy Beta(5, 1) -> 5/6, hard Beta(1, 5) -> 1/6
    summary = export(output, str(tmp_path), ExportOptions("rl", min_pass_rate=0.2, max_pass_rate=0.8))
    rows = load(tmp_path)
    assert rows["task_id"] == ["mid"] and summary.tasks_seen == 3
    assert summary.pass_rate_from == {"tasks_table": 3, "samples": 0}
    row = rows[0]
    assert row["pass_rate"] == pytest.approx(0.5) and row["pass_rate_source"] == "tasks_table"
    assert row["prompt"] == [SYSTEM, {"role": "user", "content": "Question mid?"}]
    assert row["reference"] == "42" and row["tests"] == '{"cases": ["mid"]}'
    export(output, str(tmp_path / "all"), ExportOptions("rl"))
    assert sorted(load(tmp_path / "all")["task_id"]) == ["easy", "hard", "mid"]


def test_rl_pass_rate_from_samples_without_a_task_table(tmp_path):
    output = write_output(tmp_path / "out", tasks_table=False, one_commit_per_task=False)
    export(output, str(tmp_path / "rl"), ExportOptions("rl"))
    rows = {r["task_id"]: r for r in load(tmp_path / "rl")}
    for task_id, verdicts in OUTCOMES.items():
        a, r = sum(verdicts), len(verdicts) - sum(verdicts)
        expected = stats.beta(1 + a, 1 + r)
        assert rows[task_id]["pass_rate_source"] == "samples"
        assert rows[task_id]["pass_rate"] == pytest.approx(expected.mean())
        assert (rows[task_id]["pass_rate_lo"], rows[task_id]["pass_rate_hi"]) == pytest.approx(expected.interval(0.9))
        assert (rows[task_id]["samples"], rows[task_id]["accepted"]) == (4, a)


def test_rl_without_rejected_or_task_table_is_refused(tmp_path):
    output = write_output(tmp_path / "out", tasks_table=False, keep_rejected=False)
    with pytest.raises(ExportError, match="keep_rejected"):
        export(output, str(tmp_path / "rl"), ExportOptions("rl"))
    export(output, str(tmp_path / "sft"), ExportOptions("sft"))  # SFT needs no pass rate
    assert len(load(tmp_path / "sft")) == 6


def test_uncommitted_shards_are_not_exported(output, tmp_path):
    # a data/ file no commit record claims (e.g. a crashed copy) is never read
    import shutil
    from pathlib import Path

    copy = tmp_path / "copy"
    shutil.copytree(output, copy)
    shutil.copy(Path(output) / "data" / "accepted-00001.parquet", copy / "data" / "accepted-00099.parquet")
    export(str(copy), str(tmp_path / "sft"), ExportOptions("sft"))
    assert len(load(tmp_path / "sft")) == 6


runner = CliRunner()


def test_cli_writes_the_export(output, tmp_path):
    result = runner.invoke(app, ["export", output, "--format", "rl", "--output", str(tmp_path / "x"),
                                 "--min-pass-rate", "0.4", "--max-pass-rate", "0.6"])
    assert result.exit_code == 0, result.output
    assert load(tmp_path / "x")["task_id"] == ["mid"]


@pytest.mark.parametrize(("args", "words"), [
    (["--format", "dpo"], "--format 'dpo': expected one of sft, preference, rl"),
    (["--format", "rl", "--min-pass-rate", "0.7", "--max-pass-rate", "0.2"], "--min-pass-rate 0.7 is above"),
    (["--format", "rl", "--max-pass-rate", "1.5"], "--max-pass-rate 1.5: expected a rate between 0 and 1"),
    (["--format", "preference", "--max-pairs-per-task", "0"], "--max-pairs-per-task 0"),
])
def test_cli_bad_options_are_one_line(output, tmp_path, args, words):
    result = runner.invoke(app, ["export", output, "--output", str(tmp_path / "x"), *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr


def test_cli_not_an_output_and_taken_folder(output, tmp_path):
    missing = runner.invoke(app, ["export", str(tmp_path / "nothing"), "--format", "sft", "--output",
                                  str(tmp_path / "x")])
    assert missing.exit_code == 2 and "no campaign output here" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert runner.invoke(app, ["export", output, "--format", "sft", "--output", str(tmp_path / "y")]).exit_code == 0
    again = runner.invoke(app, ["export", output, "--format", "sft", "--output", str(tmp_path / "y")])
    assert again.exit_code == 2 and "already holds files" in again.stderr


@pytest.mark.e2e
def test_export_from_s3(output, s3_server, s3_uri, tmp_path):
    """The same output copied to a real S3 server (SeaweedFS), exported through `--endpoint-url`."""
    from foundry.storage.uri import open_store

    local, remote = open_store(output), open_store(s3_uri, endpoint_url=s3_server.endpoint_url)
    for key in local.list(""):
        remote.put(key, local.get(key))
    result = runner.invoke(app, ["export", s3_uri, "--format", "preference", "--output", str(tmp_path / "x"),
                                 "--endpoint-url", s3_server.endpoint_url])
    assert result.exit_code == 0, result.output
    assert [(r["chosen_id"], r["rejected_id"]) for r in load(tmp_path / "x")] == [("mid-0", "mid-1")]
