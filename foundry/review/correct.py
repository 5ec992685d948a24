"""A reviewer's edit becomes a new sample: re-verified by the campaign's own verifiers, linked to its parent.

The corrected sample never replaces the original (people's work is kept apart from the model's): it gets its own
deterministic id, the parent's id and content hash, the reviewer, the time and a unified diff against the parent.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import threading
from typing import Any

from foundry.config import CampaignConfig
from foundry.generators.parsing import extract_answer
from foundry.storage.shards import sample_row
from foundry.types import Sample


def content_hash(sample: Sample) -> str:
    """What a person reads and edits: reasoning, answer, completion and messages (sha256 of their JSON)."""
    body = json.dumps([sample.reasoning, sample.answer, sample.completion, sample.messages], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def corrected_id(parent_id: str, new_hash: str) -> str:
    """Same parent, same corrected text: same id, whoever typed it (so two identical fixes are one sample)."""
    return hashlib.sha256(f"corrected\x1f{parent_id}\x1f{new_hash}".encode()).hexdigest()[:24]


def _text(sample: Sample) -> list[str]:
    return [f"reasoning:\n{sample.reasoning or ''}\n", f"answer:\n{sample.answer or ''}\n"]


def unified_diff(parent: Sample, child: Sample) -> str:
    lines = lambda s: "".join(_text(s)).splitlines(keepends=True)  # noqa: E731
    return "".join(difflib.unified_diff(lines(parent), lines(child), fromfile=parent.id, tofile=child.id))


class Corrector:
    """Builds and re-verifies corrections in-process with `foundry.verifiers.build_chain` on the campaign config.

    The chain is built once and shared; verifier calls are serialized (code verifiers hold sandbox processes)."""

    def __init__(self, config: CampaignConfig | None):
        self.config = config
        self._chain = None
        self.skipped: list[str] = []
        self._lock = threading.Lock()

    def _verifiers(self):
        if self._chain is None and self.config is not None:
            from foundry.verifiers import build_chain

            config = self.config
            # A judge the campaign ran on its own replicas is not here: such rubric verifiers are skipped, and
            # the skip is recorded with every correction.
            runnable = [v for v in config.verifiers if v.kind != "rubric" or v.judge.kind == "openai"]
            self.skipped = [v.name for v in config.verifiers if v not in runnable]
            self._chain = build_chain(config.model_copy(update={"verifiers": runnable}))
        return self._chain

    def correct(self, parent: Sample, reasoning: str | None, answer: str, reviewer: str, now: float,
                review_key: str) -> dict[str, Any]:
        """The corrected sample's row (`CORRECTED_SCHEMA`), verdicts included."""
        generator = self.config.generator if self.config else None
        open_tag, close_tag = getattr(generator, "think_tags", ("<think>", "</think>"))
        patterns = getattr(generator, "answer_patterns", ["boxed"])
        reasoning = reasoning if reasoning and reasoning.strip() else None
        completion = f"{open_tag}{reasoning}{close_tag}{answer}" if reasoning is not None else answer
        messages = parent.messages
        if messages and messages[-1].get("role") == "assistant":
            messages = [*messages[:-1], {**messages[-1], "content": completion}]
        draft = parent.model_copy(update={
            "completion": completion, "reasoning": reasoning, "answer": answer, "messages": messages,
            "final_answer": extract_answer(answer, patterns), "verdicts": [], "accepted": False,
            "completion_tokens": 0, "finish_reason": "reviewer", "generation_seconds": 0.0,
            "fingerprint": None,  # the parent's is of the parent's text
        })
        child = draft.model_copy(update={"id": corrected_id(parent.id, content_hash(draft))})
        with self._lock:
            chain = self._verifiers()
            if chain is not None:
                verdicts, accepted = chain.run(child)
                child = child.model_copy(update={"verdicts": verdicts, "accepted": accepted})
        return {**sample_row(child), "parent_id": parent.id, "parent_hash": content_hash(parent),
                "reviewer": reviewer, "corrected_at": now, "review_key": review_key,
                "diff": unified_diff(parent, child)}

    def close(self) -> None:
        if self._chain is not None:
            self._chain.close()
