"""Trace-level checks of a tool-use rollout, from the stored trace stats and messages (no tool runs again).

The final answer itself is the other verifiers' job (math, code, rubric on the final assistant message); this one
asks whether the path to it is training data: it ended as it should, and its tool calls were sound.
"""

from __future__ import annotations

from typing import Any

from foundry.config import TraceVerifierConfig
from foundry.types import Sample, Verdict
from foundry.verifiers.base import accept, reject


def unanswered(messages: list[dict[str, Any]], calls: list[dict[str, Any]]) -> str | None:
    """The first tool call with no result, or whose error no later assistant turn saw; None when there is none."""
    results = {m.get("tool_call_id"): i for i, m in enumerate(messages) if m.get("role") == "tool"}
    for message in messages:
        for call in message.get("tool_calls") or []:
            if call.get("id") not in results:
                return f"tool call {call.get('id')} ({(call.get('function') or {}).get('name')}) has no result"
    for call in calls:  # the trace's records include unreadable calls, which have no `tool_calls` entry
        position = results.get(call.get("id"))
        if call.get("error") is not None and position is not None and not any(
            m.get("role") == "assistant" for m in messages[position + 1 :]
        ):
            return f"tool error in call {call.get('id')} ({call.get('name')}) left unanswered"
    return None


class TraceVerifier:
    """Passes when the rollout ended for an accepted reason with sound tool use (see TraceVerifierConfig)."""

    version = "1"

    def __init__(self, config: TraceVerifierConfig):
        self.name = config.name
        self.config = config

    def verify(self, sample: Sample) -> Verdict:
        trace, config = sample.trace, self.config
        if not isinstance(trace, dict) or "stop_reason" not in trace:
            return reject(self, "no tool-use trace")
        stop = trace["stop_reason"]
        if stop not in config.stop_reasons:
            detail = f": {trace['error']}" if trace.get("error") else ""
            return reject(self, f"rollout stopped by {stop}{detail} (accepted: {', '.join(config.stop_reasons)})")
        calls = trace.get("calls") or []
        invalid = [c for c in calls if not c.get("valid", True)]
        if config.require_valid_tool_calls and invalid:
            return reject(self, f"{len(invalid)} invalid tool call(s); first: {invalid[0].get('error')}"[:300])
        errors = int(trace.get("tool_errors") or 0)
        if config.max_tool_errors is not None and errors > config.max_tool_errors:
            return reject(self, f"{errors} tool errors > max {config.max_tool_errors}")
        if len(calls) < config.min_tool_calls:
            return reject(self, f"{len(calls)} tool call(s) < min {config.min_tool_calls}")
        if not config.allow_unanswered_tool_errors and (problem := unanswered(sample.messages or [], calls)):
            return reject(self, problem)
        return accept(self, reason=f"{stop}, {len(calls)} tool call(s), {errors} error(s)")
