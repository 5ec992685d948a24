"""Math-answer equivalence with Math-Verify (`parse` + `verify`), the library Hugging Face uses for its evals."""

from __future__ import annotations

import re
import threading
from importlib.metadata import version

from math_verify import parse, verify

from foundry.config import MathVerifierConfig
from foundry.types import Sample, Verdict
from foundry.verifiers.base import accept, reject


def _timeout() -> int | None:
    # Math-Verify times out with SIGALRM, which only works in the main thread (its issues #50, #55). Elsewhere
    # run without it; the campaign's per-batch verification deadline still bounds a runaway parse.
    return 5 if threading.current_thread() is threading.main_thread() else None


class MathVerifier:
    """Passes when the sample's final answer is mathematically equal to the task's reference."""

    def __init__(self, config: MathVerifierConfig):
        self.name = config.name
        self.version = f"math-verify=={version('math-verify')}"
        self.reference_pattern = re.compile(config.reference_pattern, re.MULTILINE) if config.reference_pattern else None

    def gold(self, reference: str) -> str:
        match = self.reference_pattern.search(reference) if self.reference_pattern else None
        text = match.group(1).strip().replace(",", "") if match else reference.strip()
        return text if "$" in text or "\\boxed" in text else f"${text}$"

    def verify(self, sample: Sample) -> Verdict:
        if not sample.reference:
            return reject(self, "task has no reference answer")
        if not (sample.final_answer or "").strip():
            return reject(self, "no final answer found")
        timeout = _timeout()
        gold = parse(self.gold(sample.reference), parsing_timeout=timeout)
        predicted = parse(f"\\boxed{{{sample.final_answer}}}", parsing_timeout=timeout)
        if not gold:
            return reject(self, f"reference {sample.reference[-80:]!r} did not parse")
        if not predicted:
            return reject(self, f"answer {sample.final_answer[:80]!r} did not parse")
        if verify(gold, predicted, timeout_seconds=timeout):
            return accept(self)
        return reject(self, f"answer {sample.final_answer[:80]!r} != reference {str(gold[-1])[:80]!r}")
