"""Rubric scoring by an LLM judge, for samples with no mechanically checkable answer.

The judge is anything with `complete(messages, json_schema, max_tokens, temperature) -> str`: an OpenAI-compatible
endpoint (here) or the campaign's vLLM replicas (`cluster/judge.py`). Scores come back as guided JSON (structured
outputs), so they parse; if they still do not, the sample is rejected with the reason, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Protocol

from foundry.config import JudgeConfig, RubricVerifierConfig
from foundry.errors import InfrastructureError
from foundry.types import Sample, Verdict
from foundry.verifiers.base import accept, reject


class Judge(Protocol):
    model: str

    def complete(self, messages: list[dict[str, Any]], json_schema: dict[str, Any], regex: str, max_tokens: int,
                 temperature: float) -> str: ...


class OpenAIJudge:
    """A judge behind an OpenAI-compatible chat-completions endpoint (vLLM's server, a hosted API)."""

    def __init__(self, config: JudgeConfig):
        self.base_url = (config.base_url or "").rstrip("/")
        self.model = config.model or ""
        self.api_key_env = config.api_key_env
        self.timeout = config.timeout_seconds

    def complete(self, messages, json_schema, regex, max_tokens, temperature) -> str:
        import httpx

        key = os.environ.get(self.api_key_env, "")
        try:
            response = httpx.post(
                f"{self.base_url}/chat/completions",
                headers={"Authorization": f"Bearer {key}"} if key else {},
                json={
                    "model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                    "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "scores", "schema": json_schema}},
                },
                timeout=self.timeout,
            )
            response.raise_for_status()
            return response.json()["choices"][0]["message"]["content"] or ""
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            # unreachable, refusing or answering garbage: the endpoint's fault, never a verdict on the sample
            raise InfrastructureError(f"judge {self.base_url}: {type(exc).__name__}: {str(exc)[:200]}") from None


def scores_schema(config: RubricVerifierConfig) -> dict[str, Any]:
    fields = {c.name: {"type": "integer", "minimum": 0, "maximum": config.scale} for c in config.criteria}
    return {"type": "object", "properties": fields, "required": list(fields), "additionalProperties": False}


def scores_regex(config: RubricVerifierConfig) -> str:
    """The same object as a regex with no free whitespace: JSON grammars allow unbounded whitespace, and a weak
    judge under a JSON grammar was seen padding newlines until max_tokens."""
    number = "(" + "|".join(str(v) for v in range(config.scale, -1, -1)) + ")"
    return r"\{" + ", ".join(f'"{c.name}": {number}' for c in config.criteria) + r"\}"


class RubricVerifier:
    """Weighted mean of the judge's per-criterion scores, normalised to 0..1, against a threshold."""

    def __init__(self, config: RubricVerifierConfig, judge: Judge):
        self.name = config.name
        self.config = config
        self.judge = judge
        self.schema = scores_schema(config)
        self.regex = scores_regex(config)
        self.system = config.instructions.format(scale=config.scale) + "\n\nCriteria:\n" + "\n".join(
            f"- {c.name} (weight {c.weight}): {c.description}" for c in config.criteria
        )
        rubric_hash = hashlib.sha256(json.dumps([self.system, self.schema], sort_keys=True).encode()).hexdigest()
        self.version = f"rubric-{rubric_hash[:12]} judge={judge.model}"

    def messages(self, sample: Sample) -> list[dict[str, str]]:
        task = sample.prompt or ""
        if sample.messages:
            task = "\n".join(f"{m.get('role')}: {m.get('content') or ''}" for m in sample.messages[:-1])
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": f"TASK:\n{task[-4000:]}\n\nRESPONSE:\n{sample.completion[-8000:]}"},
        ]

    def verify(self, sample: Sample) -> Verdict:
        if not sample.completion.strip():
            return reject(self, "empty completion")
        raw = self.judge.complete(self.messages(sample), self.schema, self.regex, self.config.max_tokens,
                                  self.config.temperature)
        try:
            scores = json.loads(raw)
            values = {c.name: min(max(float(scores[c.name]), 0.0), self.config.scale) for c in self.config.criteria}
        except (ValueError, TypeError, KeyError):
            return reject(self, f"judge output is not the scores object: {raw[:120]!r}")
        total = sum(c.weight for c in self.config.criteria)
        score = sum(c.weight * values[c.name] for c in self.config.criteria) / total / self.config.scale
        detail = ", ".join(f"{k}={v:g}" for k, v in values.items())
        if score >= self.config.threshold:
            return accept(self, score, detail)
        return reject(self, f"score {score:.2f} < {self.config.threshold} ({detail})", score)
