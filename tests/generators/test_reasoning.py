"""The reasoning generator: task → chat request, completion → Sample with reasoning, answer and final answer."""

from __future__ import annotations

import pytest

from foundry.config import GeneratorConfig
from foundry.generators.engine import GenerationResult
from foundry.generators.reasoning import PromptError, ReasoningGenerator
from foundry.types import Completion, Task

SAMPLING = {"n": 2, "temperature": 0.7, "max_tokens": 64}


def generator(**config) -> ReasoningGenerator:
    return ReasoningGenerator(GeneratorConfig(**config))


def result(*completions: Completion, prompt: str = "<rendered prompt>") -> GenerationResult:
    return GenerationResult(request_id="r-1", prompt=prompt, prompt_tokens=17, completions=list(completions),
                            seconds=1.25, replica="replica-3")


# --- messages ---------------------------------------------------------------------------------------------------

def test_a_prompt_becomes_a_user_message_after_the_system_prompt():
    task = Task(id="t", prompt="What is 2+2?")
    assert generator(system_prompt="Answer in \\boxed{}.").messages(task) == [
        {"role": "system", "content": "Answer in \\boxed{}."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert generator().messages(task) == [{"role": "user", "content": "What is 2+2?"}]


def test_the_template_sees_the_prompt_the_reference_and_metadata():
    task = Task(id="t", prompt="Add 2 and 2.", reference="4", metadata={"subject": "arithmetic", "level": 1})
    gen = generator(prompt_template="[{subject}, level {level}] {prompt} (hint: {reference})")
    [message] = gen.messages(task)
    assert message == {"role": "user", "content": "[arithmetic, level 1] Add 2 and 2. (hint: 4)"}


def test_task_messages_are_used_as_given_with_the_system_prompt_added_once():
    chat = [{"role": "user", "content": "hi"}]
    task = Task(id="t", messages=chat)
    messages = generator(system_prompt="S", prompt_template="IGNORED {prompt}").messages(task)
    assert messages == [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    assert task.messages == chat, "the task is not modified"
    own_system = Task(id="t", messages=[{"role": "system", "content": "mine"}, {"role": "user", "content": "hi"}])
    assert generator(system_prompt="S").messages(own_system) == own_system.messages


@pytest.mark.parametrize("template", ["{prompt} in {language}", "{prompt} {0}", "{prompt} {examples[2]}"])
def test_a_template_field_the_task_lacks_is_a_prompt_error_naming_the_task(template):
    task = Task(id="task-9", prompt="p", metadata={"examples": ["a"]})
    with pytest.raises(PromptError, match="task-9"):
        generator(prompt_template=template).messages(task)


@pytest.mark.parametrize("metadata", [{"info": None}, {"info": 3}, {"info": "text"}])
def test_a_metadata_value_of_the_wrong_shape_is_a_prompt_error(metadata):
    with pytest.raises(PromptError, match="task-1"):
        generator(prompt_template="{prompt} ({info[level]})").messages(Task(id="task-1", prompt="p", metadata=metadata))


def test_an_attribute_the_value_lacks_is_a_prompt_error():
    with pytest.raises(PromptError, match="task-1"):
        generator(prompt_template="{prompt.title_case}").messages(Task(id="task-1", prompt="p"))


# --- requests ---------------------------------------------------------------------------------------------------

def test_a_chat_request_carries_messages_sampling_and_structured_outputs():
    gen = generator(system_prompt="S", structured_outputs={"regex": "[0-9]"})
    request = gen.request(Task(id="t", prompt="p"), "t-0-abc", SAMPLING)
    assert request.request_id == "t-0-abc"
    assert request.sampling == SAMPLING
    assert request.messages == [{"role": "system", "content": "S"}, {"role": "user", "content": "p"}]
    assert request.prompt is None
    assert request.structured_outputs == {"regex": "[0-9]"}


def test_without_the_chat_template_the_messages_are_joined_into_a_raw_prompt():
    gen = generator(system_prompt="S", use_chat_template=False, prompt_template="Q: {prompt}\nA:")
    request = gen.request(Task(id="t", prompt="p"), "id", SAMPLING)
    assert request.messages is None
    assert request.prompt == "S\n\nQ: p\nA:"


# --- samples ----------------------------------------------------------------------------------------------------

def test_sample_fills_reasoning_answer_and_final_answer():
    task = Task(id="t", prompt="What is 2+2?", reference="4", tests=["assert f() == 4"])
    completion = Completion(text="<think>2 and 2 make 4</think>The answer is \\boxed{4}.", completion_tokens=21,
                            finish_reason="stop")
    sample = generator(system_prompt="S").sample(task, result(completion), completion, "sid", 3)
    assert (sample.id, sample.task_id, sample.sample_index) == ("sid", "t", 3)
    assert sample.completion == completion.text
    assert sample.reasoning == "2 and 2 make 4"
    assert sample.answer == "The answer is \\boxed{4}."
    assert sample.final_answer == "4"
    assert sample.reference == "4" and sample.tests == ["assert f() == 4"]
    assert sample.prompt == "<rendered prompt>"
    assert sample.messages == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": completion.text},
    ]
    assert (sample.prompt_tokens, sample.completion_tokens) == (17, 21)
    assert sample.finish_reason == "stop" and sample.generation_seconds == 1.25
    assert sample.verdicts == [] and sample.accepted is False


def test_a_box_inside_the_reasoning_is_not_the_final_answer():
    completion = Completion(text="<think>maybe \\boxed{3}?</think>no boxed answer", completion_tokens=9)
    sample = generator().sample(Task(id="t", prompt="p"), result(completion), completion, "s", 0)
    assert sample.reasoning == "maybe \\boxed{3}?"
    assert sample.final_answer is None


def test_a_truncated_completion_has_no_reasoning_block():
    completion = Completion(text="<think>still thinking about \\boxed{5", completion_tokens=64, finish_reason="length")
    sample = generator().sample(Task(id="t", prompt="p"), result(completion), completion, "s", 0)
    assert sample.reasoning is None
    assert sample.answer == completion.text
    assert sample.final_answer is None
    assert sample.finish_reason == "length"


def test_sample_uses_the_configured_tags_and_answer_patterns():
    gen = generator(think_tags=("<reasoning>", "</reasoning>"), answer_patterns=[r"Final answer:\s*(\S+)", "boxed"])
    completion = Completion(text="<reasoning>r</reasoning>Final answer: 12\n\\boxed{13}", completion_tokens=5)
    sample = gen.sample(Task(id="t", prompt="p"), result(completion), completion, "s", 0)
    assert (sample.reasoning, sample.final_answer) == ("r", "12")


def test_each_of_n_completions_becomes_its_own_sample():
    completions = [Completion(text=f"</think>\\boxed{{{i}}}", completion_tokens=i + 1) for i in range(3)]
    res, gen, task = result(*completions), generator(), Task(id="t", prompt="p")
    samples = [gen.sample(task, res, c, f"s{i}", i) for i, c in enumerate(res.completions)]
    assert [s.final_answer for s in samples] == ["0", "1", "2"]
    assert [s.completion_tokens for s in samples] == [1, 2, 3]
    assert [s.sample_index for s in samples] == [0, 1, 2]
