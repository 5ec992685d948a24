"""Where tasks come from and which columns hold each task field."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from foundry.config.base import Strict


class FieldMap(Strict):
    """Which source column holds each task field."""

    id: str | None = "id"
    """Column with a unique task id; when absent from a row, the row's position is used."""
    prompt: str | None = "prompt"
    """Column with the prompt text (used when `messages` is absent)."""
    messages: str | None = "messages"
    """Column with chat messages ([{role, content}, ...])."""
    reference: str | None = "answer"
    """Column with the reference answer checked by verifiers."""
    tests: str | list[str] | None = "tests"
    """Column with tests for code verifiers; a list of columns makes a dict of them (HumanEval's
    `[test, entry_point, prompt]`)."""


class SourceConfig(Strict):
    """Where tasks come from: a local JSONL / parquet file or a Hugging Face dataset."""

    format: Literal["jsonl", "parquet", "hf"] | None = None
    """File format; inferred from the path suffix when omitted. `hf` loads with `datasets.load_dataset`."""
    path: str = Field(min_length=1)
    """Local file, or dataset name / local dataset folder for `hf`. Relative paths resolve against the config file."""
    split: str = "train"
    """Dataset split (for `hf`)."""
    subset: str | None = None
    """Dataset configuration name (for `hf`)."""
    fields: FieldMap = Field(default_factory=FieldMap)
    """Mapping from task fields to source columns."""
    limit: int | None = Field(default=None, ge=1)
    """Use at most this many rows."""
