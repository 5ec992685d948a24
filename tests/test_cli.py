"""The `foundry` command through typer's CliRunner: exit codes, one line per problem, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from foundry.cli import app

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = sorted(CONFIGS.glob("*.yaml"))


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def no_ray(monkeypatch):
    """Any attempt to start Ray fails the test: these commands must stop before the cluster is touched."""
    import foundry.cluster.runtime as runtime

    def refuse(*args, **kwargs):
        raise AssertionError("the command started Ray")

    monkeypatch.setattr(runtime, "init_ray", refuse)


def write(folder: Path, data: dict, name: str = "campaign.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


def no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


# --- validate ---------------------------------------------------------------------------------------------------

def test_validate_accepts_the_shipped_configs(cli):
    result = cli("validate", *SHIPPED)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [word for path in SHIPPED for word in ("ok", str(path))]
    assert result.stderr == ""


def test_validate_prints_one_field_named_line_per_problem_and_exits_2(cli, tmp_path):
    bad = write(tmp_path, {"name": "t", "source": {"path": "x.jsonl"},
                           "sampling": {"temperature": -1, "temprature": 0.5},
                           "verifiers": [{"kind": "length", "max_tokens": 0}]})
    result = cli("validate", SHIPPED[0], bad)
    assert result.exit_code == 2
    no_traceback(result)
    assert result.stdout.split() == ["ok", str(SHIPPED[0])], "good files are still reported"
    lines = result.stderr.splitlines()
    assert sorted(lines) == sorted([
        f"error: {bad}: sampling.temperature: Input should be greater than or equal to 0",
        f"error: {bad}: sampling.temprature: unknown field",
        f"error: {bad}: verifiers.0.max_tokens: Input should be greater than or equal to 1",
        f"error: {bad}: output: Field required",
    ])


def test_validate_reports_problems_from_every_file(cli, tmp_path):
    one = write(tmp_path, {"name": "t", "source": {"path": "x.jsonl"}}, "one.yaml")
    two = tmp_path / "two.yaml"
    two.write_text("name: [unclosed\n")
    result = cli("validate", one, two, tmp_path / "three.yaml")
    assert result.exit_code == 2
    no_traceback(result)
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {one}: output: Field required"
    assert lines[1].startswith(f"error: {two}: not valid YAML")
    assert lines[2] == f"error: {tmp_path / 'three.yaml'}: no such file"
    assert len(lines) == 3


def test_validate_prints_one_ok_line_per_file_however_long_the_path(cli, tmp_path):
    folder = tmp_path / ("campaigns-" + "x" * 50) / ("nested-" + "y" * 30)
    folder.mkdir(parents=True)
    (folder / "tasks.jsonl").write_text('{"prompt": "p"}\n')
    config = write(folder, {"name": "t", "source": {"path": "tasks.jsonl"}, "output": {"path": "out"}})
    result = cli("validate", config)
    assert result.exit_code == 0
    assert result.stdout == f"ok {config}\n"


def test_validate_needs_a_file(cli):
    result = cli("validate")
    assert result.exit_code == 2
    no_traceback(result)


# --- schema -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def schema() -> dict:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_schema_prints_a_json_schema_with_field_descriptions(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == "CampaignConfig" and schema["additionalProperties"] is False
    assert schema["properties"]["stop_after_accepted"]["description"] == (
        "Stop sampling a task once this many of its samples were accepted.")
    sampling = schema["$defs"]["SamplingConfig"]["properties"]
    assert sampling["n"]["description"] == "Samples per request; all `n` are kept."
    assert sampling["temperature"]["minimum"] == 0
    source = schema["$defs"]["SourceConfig"]["properties"]
    assert "Relative paths resolve against the config file" in source["path"]["description"]
    assert schema["properties"]["verifiers"]["items"]["discriminator"]["propertyName"] == "kind"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_schema_accepts_the_shipped_configs(schema, path):
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text()))


def test_the_schema_rejects_a_typo(schema):
    with pytest.raises(jsonschema.ValidationError, match="temprature"):
        jsonschema.Draft202012Validator(schema).validate(
            {"name": "t", "source": {"path": "x"}, "output": {"path": "o"}, "sampling": {"temprature": 1}})


# --- run (only the paths that fail before Ray starts) -----------------------------------------------------------

def test_run_on_a_bad_config_exits_2_with_field_named_lines(cli, tmp_path, no_ray):
    bad = write(tmp_path, {"name": "t", "source": {"path": "x.jsonl"}, "output": {"path": "out"},
                           "sampling": {"temperature": -1}})
    result = cli("run", "-q", bad)
    assert result.exit_code == 2
    no_traceback(result)
    assert result.stderr == f"error: {bad}: sampling.temperature: Input should be greater than or equal to 0\n"
    assert not (tmp_path / "out").exists()


def test_run_with_a_bad_set_path_exits_2(cli, tmp_path, no_ray):
    config = write(tmp_path, {"name": "t", "source": {"path": "x.jsonl"}, "output": {"path": "out"},
                              "verifiers": [{"kind": "sections"}]})
    result = cli("run", "-q", config, "--set", "verifiers.3.name=x")
    assert result.exit_code == 2
    no_traceback(result)
    assert result.stderr == "error: --set verifiers.3.name=x: no such field path\n"


def test_run_with_a_missing_source_file_exits_2_with_one_line(cli, tmp_path, no_ray):
    config = write(tmp_path, {"name": "t", "source": {"path": "missing.jsonl"}, "output": {"path": "out"}})
    result = cli("run", "-q", config)
    assert result.exit_code == 2, result.output
    no_traceback(result)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: source.path: no such file") and "missing.jsonl" in line


def test_run_on_an_existing_output_without_resume_exits_2(cli, tmp_path, no_ray):
    (tmp_path / "tasks.jsonl").write_text('{"prompt": "p"}\n')
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "manifest.json").write_text(json.dumps({"format": "foundry/1", "campaign": "t"}))
    config = write(tmp_path, {"name": "t", "source": {"path": "tasks.jsonl"}, "output": {"path": "out"}})
    result = cli("run", "-q", config)
    assert result.exit_code == 2, result.output
    no_traceback(result)
    [line] = result.stderr.splitlines()
    assert line == (f"error: {tmp_path / 'out'} already holds a campaign: add --resume to continue it, "
                    "or pick a new output")


@pytest.mark.parametrize("value", ["[a-z]+", "[/b]"])
def test_problem_lines_are_printed_verbatim(cli, tmp_path, no_ray, value):
    config = write(tmp_path, {"name": "t", "source": {"path": "x.jsonl"}, "output": {"path": "out"},
                              "verifiers": [{"kind": "regex", "pattern": "a"}]})
    result = cli("run", "-q", config, "--set", f"verifiers.x.pattern={value}")
    assert result.exit_code == 2
    assert result.stderr == f"error: --set verifiers.x.pattern={value}: no such field path\n"
