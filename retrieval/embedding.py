"""Text embeddings: any sentence-transformers model; the bundle's multilingual-e5-small by default.

Vectors are L2-normalised float32, so FAISS inner product is cosine similarity. E5 models
were trained with ``query: `` / ``passage: `` prefixes and lose accuracy without them; the
prefixes come from the model's own sentence-transformers prompts, or are inferred for e5.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.errors import ParlaError
from agent.models import ModelSpec

logger = logging.getLogger(__name__)

E5_PREFIXES = ("query: ", "passage: ")
FINGERPRINT_SAMPLE_BYTES = 1 << 20  # hash this much of each end of a weight file, not 470 MB


class Embedder(Protocol):
    """Turns text into unit vectors; one model for queries and passages."""

    name: str
    fingerprint: str
    dimension: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


@dataclass(frozen=True)
class Prefixes:
    query: str = ""
    passage: str = ""


class SentenceTransformerEmbedder:
    """An ``Embedder`` over a loaded ``sentence_transformers.SentenceTransformer``."""

    def __init__(
        self,
        model: Any,
        name: str,
        fingerprint: str,
        prefixes: Prefixes | None = None,
        batch_size: int = 32,
    ) -> None:
        self.model = model
        self.name = name
        self.fingerprint = fingerprint
        self.prefixes = prefixes or model_prefixes(model, name)
        self.batch_size = batch_size
        self.dimension = int(model.get_embedding_dimension())
        self.max_tokens = int(model.max_seq_length)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.prefixes.query + t for t in texts], progress=False)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode([self.prefixes.passage + t for t in texts], progress)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        ids = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(i) for i in ids]

    def _encode(self, texts: list[str], progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def model_prefixes(model: Any, name: str) -> Prefixes:
    prompts = getattr(model, "prompts", None) or {}
    if "query" in prompts or "passage" in prompts:
        return Prefixes(
            prompts.get("query", ""), prompts.get("passage", prompts.get("document", ""))
        )
    if "e5" in name.lower():
        return Prefixes(*E5_PREFIXES)
    return Prefixes()


_LOADED: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def load_embedder(
    name: str, device: str = "cpu", batch_size: int = 32
) -> SentenceTransformerEmbedder:
    """The embedder named by bundle name, local path or hub id; loaded once per process."""
    folder = ModelSpec(name).resolve()
    key = (str(folder), device)
    with _LOCK:
        model = _LOADED.get(key)
        if model is None:
            model = _load_sentence_transformer(folder, device)
            _LOADED[key] = model
    return SentenceTransformerEmbedder(
        model, name, model_fingerprint(folder), batch_size=batch_size
    )


def _load_sentence_transformer(folder: Path, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    logger.info("loading embedder %s on %s", folder, device)
    try:
        return SentenceTransformer(str(folder), device=device)
    except (OSError, ValueError) as exc:
        raise ParlaError(
            f"cannot load a sentence-transformers model from {folder}: {exc}".splitlines()[0]
        ) from None


def model_fingerprint(folder: Path) -> str:
    """A cheap content hash of a model folder: every file's name and size, and both ends.

    Hashing 470 MB at every start would cost seconds; names, sizes and the first and last
    megabyte of each file change whenever the weights or tokenizer do.
    """
    digest = hashlib.sha256()
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        rel = path.relative_to(folder).as_posix() if folder.is_dir() else path.name
        if rel.startswith(".") or "/." in rel:
            continue  # bundle markers and caches are not the model
        size = path.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with path.open("rb") as fh:
            digest.update(fh.read(FINGERPRINT_SAMPLE_BYTES))
            if size > FINGERPRINT_SAMPLE_BYTES:
                fh.seek(max(FINGERPRINT_SAMPLE_BYTES, size - FINGERPRINT_SAMPLE_BYTES))
                digest.update(fh.read())
    return digest.hexdigest()[:16]


def embedder_fingerprint(name: str) -> str:
    """Fingerprint of a model without loading it (to refuse a mismatched index early)."""
    return model_fingerprint(ModelSpec(name).resolve())
