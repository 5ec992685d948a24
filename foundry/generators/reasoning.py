"""Reasoning chains: a task becomes a chat request, each completion becomes a Sample with reasoning and answer."""

from __future__ import annotations

import string
from typing import Any

from foundry.config import GeneratorConfig
from foundry.generators.engine import GenerationRequest, GenerationResult
from foundry.generators.parsing import extract_answer, split_reasoning
from foundry.types import Completion, Sample, Task


class PromptError(ValueError):
    """A task that the prompt template cannot render (a missing field)."""


def _render(template: str, task: Task) -> str:
    values: dict[str, Any] = {**task.metadata, "prompt": task.prompt or "", "reference": task.reference or ""}
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        raise PromptError(f"prompt_template needs {fields}, task {task.id} lacks {exc}") from None


class ReasoningGenerator:
    def __init__(self, config: GeneratorConfig):
        self.config = config

    def messages(self, task: Task) -> list[dict[str, Any]]:
        if task.messages is not None:
            messages = list(task.messages)
        else:
            messages = [{"role": "user", "content": _render(self.config.prompt_template, task)}]
        if self.config.system_prompt and messages[0].get("role") != "system":
            messages.insert(0, {"role": "system", "content": self.config.system_prompt})
        return messages

    def request(self, task: Task, request_id: str, sampling: dict[str, Any]) -> GenerationRequest:
        messages = self.messages(task)
        if self.config.use_chat_template:
            return GenerationRequest(request_id, sampling, messages=messages,
                                     structured_outputs=self.config.structured_outputs)
        prompt = "\n\n".join(m["content"] for m in messages)
        return GenerationRequest(request_id, sampling, prompt=prompt, structured_outputs=self.config.structured_outputs)

    def sample(self, task: Task, result: GenerationResult, completion: Completion, sid: str, index: int) -> Sample:
        reasoning, answer = split_reasoning(completion.text, self.config.think_tags)
        return Sample(
            id=sid,
            task_id=task.id,
            sample_index=index,
            prompt=result.prompt,
            messages=self.messages(task) + [{"role": "assistant", "content": completion.text}],
            completion=completion.text,
            reasoning=reasoning,
            answer=answer,
            final_answer=extract_answer(answer, self.config.answer_patterns),
            reference=task.reference,
            tests=task.tests,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason,
            generation_seconds=result.seconds,
        )
