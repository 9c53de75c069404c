"""FAISS inner-product indexes over unit vectors: exact for small sets, HNSW above the crossover.

The kind is chosen by size (``choose_kind``): below ``approximate_above`` vectors an exact
``IndexFlatIP`` is as fast as a graph and never misses; above it HNSW keeps a single query
under a millisecond at a small recall cost (see ``eval/bench_retrieval.py``). With
``device="gpu"`` and faiss-gpu installed, search runs as exact search on the GPU.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from agent.errors import ParlaError
from agent.threads import one_blas_thread

logger = logging.getLogger(__name__)

one_blas_thread()  # FAISS's OpenBLAS is loaded now (see agent.threads)

KINDS = ("auto", "flat", "hnsw")


@contextmanager
def omp_threads(n: int) -> Iterator[None]:
    """FAISS's OpenMP thread count inside the block, the previous one after it.

    The count is process-wide: torch runs on the same OpenMP runtime, so a count left at 1
    after a search is torch's too. Left like that, with threads that wait passively (see
    ``agent.threads``), the next encoder pass ran 6x slower on 2 cores (a batch of 30
    sentences: 1.84 s against 0.31 s) and the responder's first reply to a question 8x
    slower (p50 600 ms against 75 ms).
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@dataclass(frozen=True)
class IndexSettings:
    """How to build and search one FAISS index (from ``RetrievalConfig``)."""

    kind: str = "auto"  # "auto", "flat" or "hnsw"
    approximate_above: int = 20_000  # vectors; "auto" uses HNSW above this
    hnsw_m: int = 32  # graph degree: memory and recall
    hnsw_ef_construction: int = 80  # build effort: recall of the graph
    hnsw_ef_search: int = 128  # search effort: recall against latency
    device: str = "cpu"  # "cpu" or "gpu" (needs faiss-gpu)
    search_threads: int = 1  # OpenMP threads for one query: 1 is fastest for single queries

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ParlaError(f"retrieval.index_kind must be one of {', '.join(KINDS)}")
        if self.device not in ("cpu", "gpu"):
            raise ParlaError("retrieval.device must be cpu or gpu")


def choose_kind(n: int, settings: IndexSettings) -> str:
    if settings.kind != "auto":
        return settings.kind
    return "hnsw" if n > settings.approximate_above else "flat"


class VectorIndex:
    """One FAISS index; ids are positions ``0..n-1`` in the order vectors were added."""

    def __init__(self, index: Any, kind: str, settings: IndexSettings) -> None:
        self.cpu_index = index
        self.kind = kind
        self.settings = settings
        if kind == "hnsw":
            index.hnsw.efSearch = settings.hnsw_ef_search
        self._search_index = index
        self._gpu_resources = None  # must outlive the GPU index that uses it
        if settings.device == "gpu":
            self._gpu_resources, self._search_index = _to_gpu(index)

    @classmethod
    def build(cls, vectors: np.ndarray, settings: IndexSettings, dimension: int) -> VectorIndex:
        kind = choose_kind(len(vectors), settings)
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(dimension, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = settings.hnsw_ef_construction
        else:
            index = faiss.IndexFlatIP(dimension)
        if len(vectors):
            with omp_threads(os.cpu_count() or 1):  # building is a batch job
                index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, kind, settings)

    @property
    def ntotal(self) -> int:
        return int(self.cpu_index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.cpu_index.d)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids, best first; ids of -1 pad results when fewer than ``k`` exist."""
        k = min(k, self.ntotal)
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        with omp_threads(self.settings.search_threads):
            return self._search_index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids``."""
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.cpu_index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def vectors(self) -> np.ndarray:
        """All stored vectors, in id order (to rebuild without re-embedding)."""
        if self.ntotal == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.cpu_index.reconstruct_n(0, self.ntotal)

    def save(self, path: Path) -> None:
        faiss.write_index(self.cpu_index, str(path))

    @classmethod
    def load(cls, path: Path, settings: IndexSettings) -> VectorIndex:
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ParlaError(
                f"cannot read FAISS index {path}: {str(exc).splitlines()[0]}"
            ) from None
        kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"
        return cls(index, kind, settings)


def _to_gpu(index: Any) -> tuple[Any, Any]:
    """Exact search on the GPU: a flat copy of the vectors (HNSW graphs do not run there)."""
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        raise ParlaError(
            "retrieval.device=gpu needs faiss-gpu and a GPU: pip install 'parla[gpu]' "
            "(replaces faiss-cpu), or set retrieval.device=cpu"
        )
    flat = faiss.IndexFlatIP(index.d)
    if index.ntotal:
        flat.add(index.reconstruct_n(0, index.ntotal))
    resources = faiss.StandardGpuResources()
    return resources, faiss.index_cpu_to_gpu(resources, 0, flat)
