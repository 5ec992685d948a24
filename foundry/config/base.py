"""What every config model shares: unknown keys are errors, fields document themselves, regexes compile early."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

TINY_MODEL = "foundry/tiny-random"
"""Reserved model name: a tiny random-weight Qwen2 model built locally on demand (no hub needed)."""


def _compiles(pattern: str) -> str:
    if pattern != "boxed":  # the answer extractor's keyword, not a regex
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]
"""A regular expression, compiled at validation so `foundry validate` catches it, not the run."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
