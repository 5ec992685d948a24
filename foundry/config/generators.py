"""How a task becomes a prompt and a completion becomes a sample: the reasoning and tool-use generators."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from foundry.config.base import Strict
from foundry.config.tools import ToolConfig

ANSWER_EXTRACTORS = ("boxed", "gsm8k_hash", "answer_is", "final_answer")
"""Built-in answer conventions by name (`generators/parsing.py`): `\\boxed{}`, `#### 5`, "The answer is: 5",
"Final Answer: 5"; the default `answer_patterns`, tried in this order."""


def _answer_pattern(pattern: str) -> str:
    if pattern not in ANSWER_EXTRACTORS:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    return pattern


AnswerPattern = Annotated[str, AfterValidator(_answer_pattern)]


class GeneratorConfig(Strict):
    """How a task becomes a prompt and a completion becomes reasoning and an answer."""

    kind: Literal["reasoning"] = "reasoning"
    """The generator: `reasoning` (chains of thought with a final answer)."""
    system_prompt: str | None = None
    """Optional system message prepended to the chat."""
    prompt_template: str = "{prompt}"
    """Python format string for the user message; `{prompt}` and any task metadata key are available."""
    use_chat_template: bool = True
    """Render messages with the tokenizer's chat template (False: send the templated prompt as raw text)."""
    think_tags: tuple[str, str] = ("<think>", "</think>")
    """Tags that delimit the reasoning block; the text inside goes to `reasoning`, the rest to `answer`."""
    answer_patterns: list[AnswerPattern] = Field(default_factory=lambda: list(ANSWER_EXTRACTORS))
    """Final-answer extractors tried in order, the first that finds one wins: a built-in name (`boxed`: the last
    balanced \\boxed{...}; `gsm8k_hash`: `#### 5`; `answer_is`: "the answer is: 5"; `final_answer`: "Final Answer:
    5") or a regex whose first group (or whole match) is the answer, last match wins."""
    answer_fallback: Literal["math_verify"] | None = "math_verify"
    """When no pattern matches: `math_verify` takes Math-Verify's own extraction (the last number or expression in
    the answer); null leaves `final_answer` empty. Each sample records its extractor in `answer_source`."""
    chat_template_kwargs: dict[str, Any] | None = None
    """Extra chat-template arguments (e.g. `{enable_thinking: true}` for Qwen3), also given to the engine's
    `reasoning_parser`."""
    structured_outputs: dict[str, Any] | None = None
    """Passed to vLLM's `StructuredOutputsParams` (e.g. `{regex: ...}`, `{json: {...}}`, `{choice: [...]}`)."""


StopReason = Literal["final_answer", "max_turns", "max_tokens", "max_tool_calls", "timeout", "error"]
"""Why a tool-use rollout ended; recorded on every trace."""


class ToolUseGeneratorConfig(Strict):
    """Multi-turn agent rollouts: the model calls tools, the tools really run, until a final answer or a budget."""

    kind: Literal["tool_use"] = "tool_use"
    system_prompt: str | None = None
    """Optional system message; the chat template adds the tool schemas to it."""
    prompt_template: str = "{prompt}"
    """Python format string for the user message; `{prompt}` and any task metadata key are available."""
    think_tags: tuple[str, str] = ("<think>", "</think>")
    """Tags of a reasoning block in the final assistant message (it goes to `reasoning`)."""
    answer_patterns: list[AnswerPattern] = Field(default_factory=lambda: list(ANSWER_EXTRACTORS))
    """Final-answer extractors for the final assistant message, as for the reasoning generator."""
    answer_fallback: Literal["math_verify"] | None = "math_verify"
    """As for the reasoning generator: Math-Verify's last expression when no pattern matches (null: none)."""
    chat_template_kwargs: dict[str, Any] | None = None
    """Extra chat-template arguments for every turn, as for the reasoning generator."""
    tools: list[ToolConfig] = Field(min_length=1)
    parser: str = Field(default="hermes", pattern=r"^(hermes|json|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
    """How tool calls are read from a turn: `hermes` (`<tool_call>{json}</tool_call>`, Qwen / Hermes), `json` (the
    turn is a JSON call object or a list of them), or `package.module:function` (text -> ParsedTurn)."""
    turn_structured_outputs: list[dict[str, Any]] | None = None
    """vLLM structured outputs per assistant turn (first entry: first turn; the last entry repeats)."""
    max_turns: int = Field(default=8, ge=1)
    """Assistant turns per rollout."""
    max_total_tokens: int | None = Field(default=None, ge=16)
    """Tokens of the whole conversation (prompt, tool results, generated); capped by the engine's max_model_len."""
    max_tool_calls: int = Field(default=16, ge=0)
    max_wall_seconds: float = Field(default=300.0, gt=0)
    """Wall clock per rollout, generation and tools included."""
    tool_workers: int = Field(default=4, ge=1)
    """Tool calls running at once per replica (threads, and sandbox processes for `python`)."""

    @model_validator(mode="after")
    def _check(self) -> ToolUseGeneratorConfig:
        names = [tool.name for tool in self.tools if tool.name]
        if len(names) != len(set(names)):
            raise ValueError(f"tool names must be unique, got {names}")
        return self


def _generator_kind(value: Any) -> str:
    # `kind` may be left out: the reasoning generator is the default.
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind or "reasoning"


AnyGeneratorConfig = Annotated[
    Annotated[GeneratorConfig, Tag("reasoning")] | Annotated[ToolUseGeneratorConfig, Tag("tool_use")],
    Discriminator(_generator_kind),
]
_UNION_TAGS = {"reasoning", "tool_use", "python", "search", "function"}
