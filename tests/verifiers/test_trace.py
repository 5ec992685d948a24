"""Trace verifier: regression table of stored traces (shapes the agent loop writes) and the verdict each gets."""

from __future__ import annotations

import pytest

from foundry.config import TraceVerifierConfig
from foundry.types import Sample
from foundry.verifiers import BUILDERS
from foundry.verifiers.trace import TraceVerifier


def call(id_, name="python", args='{"code": "print(1)"}'):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": args}}


def record(id_, error=None, valid=True):
    return {"id": id_, "turn": 0, "name": "python", "valid": valid, "error": error, "timed_out": False,
            "truncated": False, "seconds": 0.01}


USER = {"role": "user", "content": "q"}
GOOD = [USER, {"role": "assistant", "content": "", "tool_calls": [call("c0")]},
        {"role": "tool", "tool_call_id": "c0", "name": "python", "content": "1\n"},
        {"role": "assistant", "content": "\\boxed{1}"}]
ERROR_THEN_ANSWER = GOOD[:2] + [{"role": "tool", "tool_call_id": "c0", "name": "python", "content": "Error: x"},
                                GOOD[3]]
ERROR_AT_END = GOOD[:2] + [{"role": "tool", "tool_call_id": "c0", "name": "python", "content": "Error: x"}]
NO_RESULT = GOOD[:2]


def sample(messages, stop="final_answer", calls=(), **trace):
    calls = list(calls)
    body = {"stop_reason": stop, "error": None, "tool_calls": len(calls),
            "tool_errors": sum(c["error"] is not None for c in calls),
            "invalid_tool_calls": sum(not c["valid"] for c in calls), "calls": calls, **trace}
    return Sample(id="s", task_id="t", sample_index=0, messages=messages, trace=body)


CASES = [
    # (config changes, sample, passed, reason substring)
    ({}, sample(GOOD, calls=[record("c0")]), True, "final_answer, 1 tool call(s), 0 error(s)"),
    ({}, Sample(id="s", task_id="t", sample_index=0), False, "no tool-use trace"),
    ({}, sample(GOOD, stop="max_turns", calls=[record("c0")]), False, "stopped by max_turns"),
    ({}, sample([USER], stop="error", error="ValueError: boom"), False, "stopped by error: ValueError: boom"),
    ({"stop_reasons": ["final_answer", "max_turns"]}, sample(GOOD, stop="max_turns", calls=[record("c0")]), True, ""),
    ({}, sample(ERROR_THEN_ANSWER, calls=[record("c0", "unreadable tool call", valid=False)]), False,
     "1 invalid tool call(s); first: unreadable"),
    ({"require_valid_tool_calls": False},
     sample(ERROR_THEN_ANSWER, calls=[record("c0", "unreadable tool call", valid=False)]), True, ""),
    ({}, sample(ERROR_THEN_ANSWER, calls=[record("c0", "ZeroDivisionError")]), True, "1 error(s)"),
    ({"max_tool_errors": 0}, sample(ERROR_THEN_ANSWER, calls=[record("c0", "ZeroDivisionError")]), False,
     "1 tool errors > max 0"),
    ({"stop_reasons": ["max_turns"]}, sample(ERROR_AT_END, stop="max_turns", calls=[record("c0", "timeout")]), False,
     "tool error in call c0 (python) left unanswered"),
    ({"stop_reasons": ["max_turns"], "allow_unanswered_tool_errors": True},
     sample(ERROR_AT_END, stop="max_turns", calls=[record("c0", "timeout")]), True, ""),
    ({"stop_reasons": ["max_tool_calls"]}, sample(NO_RESULT, stop="max_tool_calls"), False,
     "c0 (python) has no result"),
    ({"min_tool_calls": 1}, sample([USER, {"role": "assistant", "content": "\\boxed{1}"}]), False,
     "0 tool call(s) < min 1"),
]


@pytest.mark.parametrize(("changes", "sample", "passed", "reason"), CASES)
def test_trace_verdicts(changes, sample, passed, reason):
    verdict = TraceVerifier(TraceVerifierConfig(**changes)).verify(sample)
    assert verdict.passed == passed and reason in verdict.reason
    if not passed:
        assert verdict.reason


def test_trace_kind_is_built_from_config():
    assert isinstance(BUILDERS["trace"](TraceVerifierConfig(name="t")), TraceVerifier)
