"""Fixtures of the review tests: a campaign output on disk, built by `helpers.build_output`."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry.types import Sample
from review.helpers import build_output


@pytest.fixture
def campaign_output(tmp_path: Path) -> tuple[Path, dict[str, Sample]]:
    out = tmp_path / "out"
    return out, build_output(out)
