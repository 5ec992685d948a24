"""`foundry decontaminate` and `foundry dedup` through the real CLI (typer's CliRunner) on JSONL and parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures.chat_endpoint import chat_endpoint
from typer.testing import CliRunner

from foundry.cli import app

DATA = Path(__file__).resolve().parents[2] / "configs" / "data"
GSM8K = DATA / "gsm8k-test-sample.jsonl"


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def rows():
    return [json.loads(line) for line in GSM8K.read_text().splitlines()]


@pytest.fixture
def benchmark(tmp_path, rows):
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:50]))
    return path


def inputs(rows) -> list[dict]:
    """Two leaked items (one wrapped in other text), three clean ones; ids kept, one row without an id."""
    return [
        {"id": "leak-verbatim", "completion": rows[3]["question"], "extra": 1},
        {"id": "leak-wrapped", "completion": "Please solve this. " + rows[8]["question"] + " Thanks!", "extra": 2},
        {"id": "clean-1", "completion": rows[60]["question"], "extra": 3},
        {"id": "clean-2", "completion": rows[61]["question"], "extra": 4},
        {"completion": "Two plus two is four.", "extra": 5},
    ]


def write_jsonl(path: Path, records: list[dict], junk: bool = False) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + ("not json\n" if junk else ""))
    return path


def read_output(folder: Path) -> tuple[list[dict], dict]:
    summary = json.loads((folder / "summary.json").read_text())
    table = pa.concat_tables([pq.read_table(folder / key) for key in summary["shards"]])
    return table.to_pylist(), summary


def test_decontaminate_jsonl(cli, tmp_path, benchmark, rows):
    source = write_jsonl(tmp_path / "in.jsonl", inputs(rows), junk=True)
    result = cli("decontaminate", "--benchmark", f"{benchmark}:question", "--input", source, "--output",
                 tmp_path / "out", "--no-embedding")
    assert result.exit_code == 0, result.output
    out, summary = read_output(tmp_path / "out")
    assert [r["id"] for r in out] == ["leak-verbatim", "leak-wrapped", "clean-1", "clean-2", "row-4"]
    assert [r["extra"] for r in out] == [1, 2, 3, 4, 5]
    assert [r["contaminated"] for r in out] == [True, True, False, False, False]
    assert out[0]["contamination"] == {"benchmark": "bench", "item_id": "gsm8k-test-0003", "method": "ngram",
                                       "score": 1.0}
    assert out[1]["contamination"]["item_id"] == "gsm8k-test-0008"
    assert out[2]["contamination"] is None
    assert summary["rows"] == 5 and summary["contaminated"] == 2 and summary["field"] == "completion"
    assert summary["by_benchmark"] == {"bench": {"ngram": 2}}
    assert summary["skipped"] == {"invalid JSON (Expecting value)": 1}


def test_decontaminate_parquet_with_the_embedding_stage(cli, tmp_path, benchmark, rows):
    records = [{"id": 1, "text": rows[10]["question"]},
               {"id": 2, "text": "In its first month a new app was downloaded 60 times. In month two it got three "
                                 "times as many downloads as in month one, but in month three downloads dropped by "
                                 "30%. What was the total number of downloads across the three months?"},
               {"id": 3, "text": rows[70]["question"]}]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "in.parquet")
    result = cli("decontaminate", "-b", f"{benchmark}:question", "-i", tmp_path / "in.parquet", "-o",
                 tmp_path / "out", "--field", "text")
    assert result.exit_code == 0, result.output
    out, summary = read_output(tmp_path / "out")
    assert [r["id"] for r in out] == [1, 2, 3]
    assert [(r["contamination"] or {}).get("method") for r in out] == ["ngram", "embedding", None]
    assert out[1]["contamination"]["item_id"] == "gsm8k-test-0010"
    assert summary["by_benchmark"] == {"bench": {"embedding": 1, "ngram": 1}}


def test_dedup_jsonl_and_parquet(cli, tmp_path):
    story = ("The farmer counted his sheep in the morning and found that three were missing from the field near "
             "the river, so he walked along the fence until he found them grazing in the neighbour's meadow.")
    records = [{"id": "a", "text": story}, {"id": "b", "text": "Something else entirely, about trains."},
               {"id": "c", "text": story.upper()}, {"id": "d", "text": story.replace("meadow.", "meadows.")},
               {"id": "e", "text": None}]
    write_jsonl(tmp_path / "in.jsonl", records)
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "in.parquet")
    for name in ("in.jsonl", "in.parquet"):
        result = cli("dedup", "--input", tmp_path / name, "--output", tmp_path / f"out-{name}")
        assert result.exit_code == 0, result.output
        out, summary = read_output(tmp_path / f"out-{name}")
        assert [r["id"] for r in out] == ["a", "b", "c", "d", "e"]
        assert [r["duplicate_of"] for r in out] == [None, None, "a", "a", None]
        assert summary["duplicates"] == 2 and summary["by_method"] == {"exact": 1, "near": 1}
        assert summary["dedup_rate"] == pytest.approx(0.4)


def test_dedup_exact_only_and_threshold(cli, tmp_path):
    text = " ".join(f"w{i}" for i in range(100))
    records = [{"id": "a", "text": text}, {"id": "b", "text": text + " w100 w101 w102 w103 w104"}]
    write_jsonl(tmp_path / "in.jsonl", records)
    assert cli("dedup", "-i", tmp_path / "in.jsonl", "-o", tmp_path / "o1", "--exact").exit_code == 0
    assert [r["duplicate_of"] for r in read_output(tmp_path / "o1")[0]] == [None, None]
    assert cli("dedup", "-i", tmp_path / "in.jsonl", "-o", tmp_path / "o2", "--threshold", "0.8").exit_code == 0
    assert [r["duplicate_of"] for r in read_output(tmp_path / "o2")[0]] == [None, "a"]  # true Jaccard 96/101
    assert cli("dedup", "-i", tmp_path / "in.jsonl", "-o", tmp_path / "o3", "--threshold", "0.99").exit_code == 0
    assert [r["duplicate_of"] for r in read_output(tmp_path / "o3")[0]] == [None, None]


def test_many_rows_roll_into_several_shards(tmp_path):
    from foundry.quality.commands import dedup_file

    records = [{"id": f"r{i}", "text": f"row number {i} says {i % 7}"} for i in range(25)]
    write_jsonl(tmp_path / "in.jsonl", records)
    summary = dedup_file(tmp_path / "in.jsonl", str(tmp_path / "out"), shard_rows=10)
    assert summary["shards"] == ["data/rows-00000.parquet", "data/rows-00001.parquet", "data/rows-00002.parquet"]
    out, _ = read_output(tmp_path / "out")
    assert [r["id"] for r in out] == [f"r{i}" for i in range(25)]


def bad_inputs(tmp_path: Path, benchmark: Path) -> list[tuple[list, str]]:
    good = write_jsonl(tmp_path / "good.jsonl", [{"id": "x", "completion": "hello there"}])
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "summary.json").write_text("{}")
    return [
        (["--input", tmp_path / "missing.jsonl"], "--input: no such file"),
        (["--input", good, "--field", "nope"], "has no field 'nope'"),
        (["--input", tmp_path / "broken.parquet"], "cannot read"),
        (["--input", tmp_path / "empty.jsonl"], "holds no rows"),
        (["--input", good, "--output-dir-taken"], "already holds results"),
    ]


@pytest.mark.parametrize("command", ["decontaminate", "dedup"])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, benchmark, command):
    for args, expected in bad_inputs(tmp_path, benchmark):
        output = tmp_path / ("done" if "--output-dir-taken" in args else "out")
        args = [a for a in args if a != "--output-dir-taken"]
        extra = ["--benchmark", f"{benchmark}:question", "--no-embedding"] if command == "decontaminate" else []
        result = cli(command, *extra, *args, "--output", output)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (args, result.output)


@pytest.mark.parametrize(("spec", "expected"), [
    ("{dir}/missing.jsonl:question", "--benchmark: no such file"),
    ("{bench}:problem", "has no field 'problem'"),
    ("{bench}", "has none of the fields"),
])
def test_bad_benchmark_is_one_line_and_exit_2(cli, tmp_path, benchmark, spec, expected):
    (tmp_path / "plain.jsonl").write_text(json.dumps({"id": 1, "body": "no text field here"}) + "\n")
    bench = tmp_path / "plain.jsonl" if spec == "{bench}" else benchmark
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "x", "completion": "hello"}])
    result = cli("decontaminate", "--benchmark", spec.format(dir=tmp_path, bench=bench), "--input", source,
                 "--output", tmp_path / "out", "--no-embedding")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output


def test_benchmark_field_is_guessed_when_not_given(cli, tmp_path, benchmark, rows):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "x", "completion": rows[4]["question"]}])
    result = cli("decontaminate", "--benchmark", benchmark, "--input", source, "--output", tmp_path / "out",
                 "--no-embedding")
    assert result.exit_code == 0, result.output
    assert read_output(tmp_path / "out")[0][0]["contaminated"] is True  # `question` found without naming it


def test_decontaminate_asks_a_judge_endpoint_about_the_gray_zone_only(cli, tmp_path, benchmark, rows):
    reworded = ("Tomasz chooses to attempt flipping a home. He purchases a home for $91,000 and after that puts in "
                "$62,000 in repairs. This raised the value of the home by 120%. What amount of profit did he earn?")
    records = [{"id": "verbatim", "text": rows[3]["question"]}, {"id": "reworded", "text": reworded},
               {"id": "clean", "text": "Two plus two is four."}]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    with chat_endpoint('{"same": true}') as (url, requests):
        result = cli("decontaminate", "-b", f"{benchmark}:question", "-i", source, "-o", tmp_path / "out",
                     "--judge-url", url, "--judge-model", "judge-m")
    assert result.exit_code == 0, result.output
    seen = [r["body"] for r in requests]
    out, summary = read_output(tmp_path / "out")
    assert [(r["contamination"] or {}).get("method") for r in out] == ["ngram", "judge", None]
    assert out[1]["contamination"]["item_id"] == "gsm8k-test-0002"
    assert len(seen) == 1 and seen[0]["model"] == "judge-m" and reworded in seen[0]["messages"][-1]["content"]
    assert summary["judge"] == {"model": "judge-m", "calls": 1, "confirmed": 1, "unreadable": 0}


@pytest.mark.parametrize(("args", "expected"), [
    (["--judge-url", "http://127.0.0.1:9/v1"], "--judge-url and --judge-model go together"),
    (["--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "m", "--no-embedding"], "need the embedding stage"),
])
def test_judge_options_are_checked_with_one_line(cli, tmp_path, benchmark, rows, args, expected):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": rows[3]["question"]}])
    result = cli("decontaminate", "-b", f"{benchmark}:question", "-i", source, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output


def test_an_unreachable_judge_fails_the_command_with_exit_1(cli, tmp_path, benchmark):
    reworded = ("Tomasz chooses to attempt flipping a home. He purchases a home for $91,000 and after that puts in "
                "$62,000 in repairs. This raised the value of the home by 120%. What amount of profit did he earn?")
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": reworded}])
    result = cli("decontaminate", "-b", f"{benchmark}:question", "-i", source, "-o", tmp_path / "out",
                 "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "m")
    assert result.exit_code == 1 and "judge http://127.0.0.1:9/v1" in result.output
    assert "Traceback" not in result.output


def test_a_sharded_input_is_read_through_a_wildcard(cli, tmp_path):
    """A campaign's accepted split or a Hub dump comes in shards: `--input 'dir/part-*.parquet'` reads them all, in
    name order, as one input (a copy in the second shard points at its original in the first)."""
    story = ("The farmer counted his sheep in the morning and found that three were missing from the field near "
             "the river, so he walked along the fence until he found them grazing in the neighbour's meadow.")
    (tmp_path / "dump").mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": "a", "text": story}, {"id": "b", "text": "About trains."}]),
                   tmp_path / "dump" / "part-00000.parquet")
    pq.write_table(pa.Table.from_pylist([{"id": "c", "text": story.replace("meadow", "meadows")}]),
                   tmp_path / "dump" / "part-00001.parquet")
    result = cli("dedup", "--input", tmp_path / "dump" / "part-*.parquet", "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out, summary = read_output(tmp_path / "out")
    assert [(r["id"], r["duplicate_of"]) for r in out] == [("a", None), ("b", None), ("c", "a")]
    assert summary["rows"] == 3
    missing = cli("dedup", "--input", tmp_path / "dump" / "nothing-*.parquet", "--output", tmp_path / "out2")
    assert missing.exit_code == 2 and len(missing.output.strip().splitlines()) == 1
    assert "no file matches" in missing.output
