"""Fakes for the retrieval tests: a bag-of-words embedder and a small help centre on disk."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.config import RetrievalConfig

WORD = re.compile(r"\w+")


class WordEmbedder:
    """Texts sharing words get similar vectors: enough to test ranking without a model."""

    def __init__(self, dimension: int = 64, name: str = "fake-words", fingerprint: str = "f1"):
        self.dimension = dimension
        self.name = name
        self.fingerprint = fingerprint
        self.embedded: list[str] = []  # every passage text ever embedded, to check reuse

    def _vector(self, text: str) -> np.ndarray:
        out = np.zeros(self.dimension, dtype=np.float32)
        for word in WORD.findall(text.lower()):
            seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
            out += np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
        norm = np.linalg.norm(out)
        return out / norm if norm else out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else self._empty()

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.embedded += list(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else self._empty()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(WORD.findall(t)) for t in texts]

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dimension), dtype=np.float32)


ARTICLES = {
    "en/returns.md": (
        "---\nid: returns\ntitle: Return policy\nlang: en\n---\n# Return policy\n\n"
        "## Thirty days\n\nYou can return a product within thirty days of delivery. "
        "Returns are free.\n\n## Exceptions\n\n- opened software\n- engraved items\n"
    ),
    "en/delivery.md": (
        "---\ntitle: Delivery costs\nlang: en\n---\n# Delivery costs\n\n"
        "Standard delivery takes three to five days and costs five euros. "
        "Express delivery arrives the next day.\n"
    ),
    "es/returns.md": (
        "---\ntitle: Política de devoluciones\nlang: es\n---\n# Política de devoluciones\n\n"
        "Puede devolver un producto en treinta días desde la entrega. La devolución es gratis.\n"
    ),
}


def write_kb(root: Path, articles: dict[str, str] | None = None) -> Path:
    for rel, text in (articles or ARTICLES).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def small_config(**overrides) -> RetrievalConfig:
    """Small chunks and a low threshold: the fake embedder's scores are not e5's."""
    base = {"chunk_tokens": 40, "min_score": 0.3, "fallback_below": 0.3}
    return RetrievalConfig(**{**base, **overrides})
