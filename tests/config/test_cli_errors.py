"""`foundry validate` and `foundry run` on config files and `--set` values that do not parse: exit 2 and exactly one
line naming the file or the override, never a traceback, and the cluster is never touched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foundry.cli import app

MINIMAL = "name: t\nsource: {path: tasks.jsonl}\noutput: {path: out}\n"

BAD_FILES = {
    "duplicate-key": (MINIMAL + "sampling:\n  n: 2\nsampling:\n  n: 8\n", "line 6: duplicate key 'sampling'"),
    "latin-1": (b"name: caf\xe9\nsource: {path: tasks.jsonl}\noutput: {path: out}\n", "not a UTF-8 text file"),
    "binary": (bytes(range(256)) * 4, "not a UTF-8 text file"),
    "nul-bytes": (MINIMAL.encode() + b"\0\0", "not a text file"),
    "empty": ("", "the config is empty"),
    "top-level-list": ("- name: t\n", "expected a mapping"),
    "tab-indent": (MINIMAL + "sampling:\n\tn: 2\n", "not valid YAML: line 5: "),
}


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def no_ray(monkeypatch):
    """Starting Ray fails the test: a bad config must stop the run before the cluster is touched."""
    import foundry.cluster.runtime as runtime

    def refuse(*args, **kwargs):
        raise AssertionError("the command started Ray")

    monkeypatch.setattr(runtime, "init_ray", refuse)


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line.removeprefix("error: ")


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_bad_config_file_is_one_line_and_exit_2(cli, tmp_path, no_ray, command, case):
    content, expected = BAD_FILES[case]
    path = write(tmp_path, content)
    line = one_error_line(cli(command, path) if command == "validate" else cli("run", "-q", path))
    assert line.startswith(f"{path}: {expected}")


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_directory_passed_as_the_config_is_one_line(cli, tmp_path, no_ray, command):
    line = one_error_line(cli(command, tmp_path) if command == "validate" else cli("run", "-q", tmp_path))
    assert line == f"{tmp_path}: is a directory, not a config file"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_the_data_file_passed_as_the_config_is_one_line(cli, tmp_path, no_ray, command):
    data = tmp_path / "tasks.jsonl"
    data.write_text('{"prompt": "1+1?", "answer": "2"}\n{"prompt": "2+2?", "answer": "4"}\n')
    line = one_error_line(cli(command, data) if command == "validate" else cli("run", "-q", data))
    assert line.startswith(f"{data}: a .jsonl file is data, not a campaign config")


@pytest.mark.parametrize(
    ("item", "expected"),
    [('generator.answer_patterns=["\\s"]', "not valid YAML: found unknown escape character 's'"),
     ("sampling={n: 1, n: 2}", "duplicate key 'n'"),
     ("sampling.stop=[unclosed", "not valid YAML: ")],
    ids=["bad-escape", "duplicate-key", "unclosed"],
)
def test_run_with_a_set_value_that_does_not_parse_names_the_override(cli, tmp_path, no_ray, item, expected):
    path = write(tmp_path, MINIMAL)
    line = one_error_line(cli("run", "-q", path, "--set", item))
    assert line.startswith(f"--set {item}: {expected}")


def test_validate_keeps_going_after_a_file_that_does_not_parse(cli, tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    result = cli("validate", binary, good)
    assert result.exit_code == 2
    assert result.stdout == f"ok {good}\n"
    assert result.stderr.splitlines() == [f"error: {binary}: not a UTF-8 text file (line 1: byte 0xff); "
                                          "save it as UTF-8"]


def test_the_console_script_prints_one_line_for_a_binary_config(tmp_path):
    # The real entry point, in its own process: what a user sees in the terminal (byte 0x0a ends line 1).
    path = write(tmp_path, bytes(range(256)) * 4)
    done = subprocess.run([sys.executable, "-m", "foundry", "validate", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {path}: not a UTF-8 text file (line 2: byte 0x80); save it as UTF-8"]
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("args, expected", [
    (["--set", "cluster.partitions=2"], "cluster.partitions is 2: run one partition with --partition 0..1"),
    (["--set", "cluster.partitions=2", "--partition", "2"], "cluster.partitions is 2: run one partition with"),
    (["--partition", "0"], "cluster.partitions is 1: --partition needs cluster.partitions above 1"),
])
def test_a_partition_that_does_not_fit_is_one_line(cli, tmp_path, no_ray, args, expected):
    path = write(tmp_path, MINIMAL)
    (tmp_path / "tasks.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')
    assert one_error_line(cli("run", "-q", path, *args)).startswith(expected)
