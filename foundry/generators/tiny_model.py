"""A tiny random-weight Qwen2 model with a locally trained tokenizer, for machines with no model hub.

The data it produces is meaningless, but vLLM loads it like any checkpoint, so CI and `make quickstart` exercise
the real engine. Shapes are the smallest the CPU attention kernels accept (head_dim 64).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from foundry.config import TINY_MODEL

# ChatML with Hermes-style tools, the format of Qwen2.5 chat templates (simplified).
CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "You may call one or more functions. Function signatures:\n<tools>\n"
    "{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}</tools>\n"
    "Call a function with <tool_call>{\"name\": ..., \"arguments\": {...}}</tool_call><|im_end|>\n"
    "{% elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'system' %}"
    "{% elif message.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ message.role }}\n{{ message.content or '' }}"
    "{% for call in message.tool_calls or [] %}\n<tool_call>\n{\"name\": \"{{ call.function.name }}\", "
    "\"arguments\": {{ call.function.arguments if call.function.arguments is string "
    "else call.function.arguments | tojson }}}\n</tool_call>{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VERSION = "1"


def _corpus() -> list[str]:
    words = (
        "let me think the answer is step first then so we have because total each more less number of and a "
        "question what how many if it has are to in for with python print def return import call tool result "
        "search json name arguments true false none error value sum product times plus minus equals"
    ).split()
    lines = []
    for i in range(2000):
        a, b = i % 97, (i * 7) % 89
        w = " ".join(words[(i + k * 5) % len(words)] for k in range(12))
        lines.append(f"<think>{w}</think> {a} + {b} = {a + b}. The answer is \\boxed{{{a + b}}}.")
        lines.append(f'<tool_call>{{"name": "python", "arguments": {{"code": "print({a}*{b})"}}}}</tool_call>')
        lines.append(f"def f_{i}(x):\n    return x * {a} + {b}\nprint(f_{i}({b}))")
    return lines


def build_tiny_model(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny Qwen2 checkpoint (config, safetensors, tokenizer, chat template) to `path`; idempotent."""
    path = Path(path)
    if (path / "foundry-tiny.json").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename into place, so replicas starting together never see half a model.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}-") as tmp:
        _write_tiny_model(Path(tmp) / "model", seed)
        try:
            os.rename(Path(tmp) / "model", path)
        except OSError:
            if not (path / "foundry-tiny.json").exists():
                raise
    return path


def _write_tiny_model(path: Path, seed: int) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    path.mkdir(parents=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(fast),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=fast.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=None,
        torch_dtype="float32",
    )
    Qwen2ForCausalLM(config).to(torch.float32).save_pretrained(path)
    # Written last: its presence means the folder is complete.
    (path / "foundry-tiny.json").write_text(json.dumps({"name": TINY_MODEL, "version": VERSION, "seed": seed}))


def default_tiny_model_dir() -> Path:
    cache = Path(os.environ.get("FOUNDRY_CACHE", Path.home() / ".cache" / "foundry"))
    return cache / f"tiny-random-v{VERSION}"


def resolve_model(model: str) -> str:
    """The path vLLM should load: a reserved name (`foundry/tiny-random`, `foundry/smollm2-135m`) is built on
    demand, anything else is left as is."""
    from foundry.generators.smol_model import SMOL_MODEL, build_smol_model, default_smol_model_dir

    if model == TINY_MODEL:
        return str(build_tiny_model(default_tiny_model_dir()))
    if model == SMOL_MODEL:
        return str(build_smol_model(default_smol_model_dir()))
    return model
