"""Reasoning chains: a task becomes a chat request, each completion becomes a Sample with reasoning and answer."""

from __future__ import annotations

from typing import Any

from foundry.config import GeneratorConfig
from foundry.generators.samples import PromptError, build_sample, task_messages
from foundry.types import Completion, GenerationRequest, GenerationResult, Sample, Task

__all__ = ["PromptError", "ReasoningGenerator"]


class ReasoningGenerator:
    def __init__(self, config: GeneratorConfig):
        self.config = config

    def messages(self, task: Task) -> list[dict[str, Any]]:
        return task_messages(task, self.config.prompt_template, self.config.system_prompt)

    def request(self, task: Task, request_id: str, sampling: dict[str, Any]) -> GenerationRequest:
        messages = self.messages(task)
        if self.config.use_chat_template:
            return GenerationRequest(request_id, sampling, messages=messages,
                                     structured_outputs=self.config.structured_outputs,
                                     chat_template_kwargs=self.config.chat_template_kwargs)
        prompt = "\n\n".join(m["content"] for m in messages)
        return GenerationRequest(request_id, sampling, prompt=prompt, structured_outputs=self.config.structured_outputs)

    def sample(self, task: Task, result: GenerationResult, completion: Completion, sid: str, index: int) -> Sample:
        return build_sample(
            completion, self.config, id=sid, task_id=task.id, sample_index=index, prompt=result.prompt,
            messages=self.messages(task) + [{"role": "assistant", "content": completion.text}],
            reference=task.reference, tests=task.tests, prompt_tokens=result.prompt_tokens,
            generation_seconds=result.seconds,
        )
