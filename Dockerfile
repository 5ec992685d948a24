# Foundry for GPU nodes: the official vLLM image (CUDA, torch, vLLM at the version the `gpu` extra pins) plus
# Foundry and its own dependencies. One image for the Ray head and every worker. There is no entrypoint: the
# command is `ray start ...` on cluster nodes, or any `foundry ...` command. See docs/cluster.md.
ARG VLLM_IMAGE=vllm/vllm-openai:v0.32.0
FROM ${VLLM_IMAGE}

# bubblewrap: the sandbox of the code-test verifier (runs on whichever node holds a verifier actor). Not pinned:
# the base image fixes the distribution release, and its security updates should come in.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/foundry
COPY pyproject.toml README.md ./
COPY foundry ./foundry
COPY configs ./configs

# Keep the image's CUDA stack: pin vLLM, torch and their kernels to what is installed, so pip adds only Foundry's
# own dependencies (Ray, pyarrow, Math-Verify, ...) and never swaps a CUDA wheel.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN python3 -m pip freeze \
        | grep -iE '^(vllm|torch|torchvision|torchaudio|triton|xformers|flashinfer[a-z_-]*|nvidia-[a-z0-9_-]+)==' \
        > /tmp/keep-cuda-stack.txt \
    && python3 -m pip install --no-cache-dir --constraint /tmp/keep-cuda-stack.txt ".[gpu]" \
    && python3 -c "import foundry, ray, vllm; print('foundry', foundry.__version__, 'ray', ray.__version__, 'vllm', vllm.__version__)"

ENV RAY_USAGE_STATS_ENABLED=0 \
    VLLM_LOGGING_LEVEL=WARNING

ENTRYPOINT []
CMD ["bash"]
