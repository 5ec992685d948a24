"""What every generator shares: a task's chat messages, and the one way a completion becomes a Sample.

The reasoning generator, tool-use rollouts and `foundry verify` (re-checking another tool's export) all build
samples here, so reasoning, answer, final answer and `answer_source` are derived by the same rules everywhere.
"""

from __future__ import annotations

import string
from typing import Any, Protocol

from foundry.generators.parsing import find_answer, split_reasoning
from foundry.types import Completion, Sample, Task


class PromptError(ValueError):
    """A task that the prompt template cannot render (a missing field)."""


class AnswerRules(Protocol):
    """The generator settings that read a completion (both generator configs have them)."""

    think_tags: tuple[str, str]
    answer_patterns: list[str]
    answer_fallback: str | None


def render_template(template: str, task: Task) -> str:
    values: dict[str, Any] = {**task.metadata, "prompt": task.prompt or "", "reference": task.reference or ""}
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        raise PromptError(f"prompt_template needs {fields}, task {task.id} lacks {exc}") from None


def task_messages(task: Task, prompt_template: str, system_prompt: str | None) -> list[dict[str, Any]]:
    """The task's own chat, or its prompt through the template; the system prompt added unless it has one."""
    if task.messages is not None:
        messages = list(task.messages)
    else:
        messages = [{"role": "user", "content": render_template(prompt_template, task)}]
    if system_prompt and messages[0].get("role") != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def read_completion(completion: Completion, rules: AnswerRules) -> dict[str, Any]:
    """Reasoning, answer, final answer and its source. When the engine's reasoning parser already split the
    text, its split is kept (the think-tag split does not run a second time)."""
    if completion.reasoning_parser is not None:
        reasoning, answer = completion.reasoning, completion.content or ""
        reasoning = (reasoning.strip() or None) if reasoning is not None else None
    else:
        reasoning, answer = split_reasoning(completion.text, tuple(rules.think_tags))
    # A completion cut off at max_tokens never stated its answer: its last number is not one (patterns still apply).
    fallback = None if completion.finish_reason == "length" else getattr(rules, "answer_fallback", None)
    final, source = find_answer(answer, list(rules.answer_patterns), fallback)
    return {"reasoning": reasoning, "answer": answer, "final_answer": final, "answer_source": source}


def build_sample(completion: Completion, rules: AnswerRules, **fields: Any) -> Sample:
    """A Sample from one completion: `fields` are the sample's other columns (id, task_id, prompt, ...)."""
    return Sample(
        completion=completion.text, completion_tokens=completion.completion_tokens,
        finish_reason=completion.finish_reason, **read_completion(completion, rules), **fields,
    )
