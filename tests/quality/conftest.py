"""Shared fixtures: real GSM8K test rows shipped in configs/data (MIT, see LICENSE-gsm8k there) and the real
all-MiniLM-L6-v2 model from its PyPI package, loaded once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "configs" / "data"
GSM8K = DATA / "gsm8k-test-sample.jsonl"
"""The first 100 GSM8K test problems; the first 50 are the benchmark, the other 50 are held-out clean controls."""


@pytest.fixture(scope="session")
def gsm8k_rows() -> list[dict]:
    return [json.loads(line) for line in GSM8K.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def benchmark_items(gsm8k_rows):
    from foundry.quality.benchmarks import BenchmarkItem

    return [BenchmarkItem("gsm8k", r["id"], r["question"], r["answer"]) for r in gsm8k_rows[:50]]


@pytest.fixture(scope="session")
def embedder():
    from foundry.quality.embedding import Embedder

    model = Embedder()
    model.encode(["warm up"])  # load once for the whole session
    return model


@pytest.fixture(scope="session")
def decontaminator(benchmark_items, embedder):
    from foundry.quality.decontaminate import Decontaminator

    return Decontaminator(benchmark_items, embedder=embedder)
