"""A query adapter learned from labelled questions (``parla index build --train-queries F``).

Off the shelf, multilingual-e5-small ranks the right help article first for only about 60% of
the demo's held-out questions in German, Spanish or French. Past questions with the article
that answered them are the cheapest fix: a linear map of query vectors (initialised to the
identity, pulled back toward it) trained so each question scores its article's chunks above
every other chunk of that language. Passages are untouched, so the index, its incremental
updates and its embedder fingerprint stay as they are; only queries go through the map.
Training takes seconds on a CPU; ``eval/bench_retrieval.py demo`` measures the effect.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.errors import ParlaError
from retrieval.queries import LabelledQuery

logger = logging.getLogger(__name__)

MAX_CANDIDATES = 20_000  # chunks scored per training step; more are sampled down to this


@dataclass(frozen=True)
class AdapterSettings:
    steps: int = 200  # full-batch Adam steps over the labelled questions
    learning_rate: float = 1e-3
    temperature: float = 0.02  # softmax temperature of the ranking loss (e5 trained at 0.01)
    pull_to_identity: float = 1e-2  # L2 weight toward the identity: unseen questions stay safe
    seed: int = 0


@dataclass(frozen=True, eq=False)
class QueryAdapter:
    """``normalise(q @ matrix)`` for every query vector ``q``."""

    matrix: np.ndarray
    queries: int = 0
    """How many labelled questions it was trained on."""

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        mapped = vectors @ self.matrix
        norms = np.linalg.norm(mapped, axis=1, keepdims=True)
        return (mapped / np.maximum(norms, 1e-12)).astype(np.float32)

    def save(self, path: Path) -> None:
        np.save(path, self.matrix.astype(np.float32))

    @classmethod
    def load(cls, path: Path, queries: int = 0) -> QueryAdapter:
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ParlaError(f"cannot read query adapter {path} ({exc}): rebuild it") from None
        return cls(matrix, queries)


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Labelled questions resolved against one index's chunks."""

    vectors: np.ndarray  # (questions, dim) query vectors from the embedder
    positives: list[np.ndarray]  # per question: chunk ids of its relevant documents
    candidates: list[np.ndarray]  # per question: chunk ids it is ranked among


def training_set(
    queries: Sequence[LabelledQuery],
    vectors: np.ndarray,
    chunk_docs: Sequence[str],
    chunk_languages: Sequence[str],
) -> TrainingSet:
    """Each question's positives (its documents' chunks) and candidates (chunks in the
    positives' languages). Questions whose documents are not in the index are dropped."""
    docs = np.asarray(chunk_docs)
    langs = np.asarray(chunk_languages)
    keep, positives, candidates = [], [], []
    for i, q in enumerate(queries):
        pos = np.flatnonzero(np.isin(docs, q.relevant))
        if not len(pos):
            continue
        keep.append(i)
        positives.append(pos)
        candidates.append(np.flatnonzero(np.isin(langs, np.unique(langs[pos]))))
    if len(keep) < len(queries):
        logger.warning(
            "%d of %d training questions name no indexed document and are ignored",
            len(queries) - len(keep),
            len(queries),
        )
    return TrainingSet(vectors[keep], positives, candidates)


def train_query_adapter(
    data: TrainingSet, chunk_vectors: np.ndarray, settings: AdapterSettings | None = None
) -> QueryAdapter:
    """Fit the map by minimising each question's softmax loss over its candidate chunks."""
    import torch

    settings = settings or AdapterSettings()
    if not data.positives:
        raise ParlaError("no training question names a document of this index")
    torch.manual_seed(settings.seed)
    dim = chunk_vectors.shape[1]
    eye = torch.eye(dim)
    matrix = torch.nn.Parameter(eye.clone())
    optimiser = torch.optim.Adam([matrix], lr=settings.learning_rate)
    rng = np.random.default_rng(settings.seed)
    queries = torch.from_numpy(np.ascontiguousarray(data.vectors, dtype=np.float32))
    fixed = _step_masks(data, rng) if not _needs_sampling(data) else None
    for _ in range(settings.steps):
        columns, pos_mask, cand_mask = fixed or _step_masks(data, rng)
        passages = torch.from_numpy(np.ascontiguousarray(chunk_vectors[columns]))
        mapped = torch.nn.functional.normalize(queries @ matrix, dim=1)
        scores = (mapped @ passages.T) / settings.temperature
        scores = scores.masked_fill(~torch.from_numpy(cand_mask), -1e9)
        positive = scores.masked_fill(~torch.from_numpy(pos_mask), -1e9)
        loss = (torch.logsumexp(scores, 1) - torch.logsumexp(positive, 1)).mean()
        loss = loss + settings.pull_to_identity * ((matrix - eye) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    final = float(loss.detach())
    logger.info("query adapter trained on %d questions (final loss %.3f)", len(queries), final)
    return QueryAdapter(matrix.detach().numpy().copy(), len(queries))


def _needs_sampling(data: TrainingSet) -> bool:
    return len(np.unique(np.concatenate(data.candidates))) > MAX_CANDIDATES


def _step_masks(data: TrainingSet, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The chunk columns scored this step, and per question which are positive / candidates.

    Every positive is always scored; negatives are sampled when there are too many to score
    them all (a knowledge base of 100k chunks), so a step's cost stays bounded.
    """
    all_pos = np.unique(np.concatenate(data.positives))
    all_cand = np.unique(np.concatenate(data.candidates))
    columns = all_cand
    if len(all_cand) > MAX_CANDIDATES:
        negatives = np.setdiff1d(all_cand, all_pos)
        sample = rng.choice(negatives, MAX_CANDIDATES - len(all_pos), replace=False)
        columns = np.union1d(all_pos, sample)
    pos_mask = np.zeros((len(data.positives), len(columns)), dtype=bool)
    cand_mask = np.zeros_like(pos_mask)
    for row, (pos, cand) in enumerate(zip(data.positives, data.candidates, strict=True)):
        pos_mask[row] = np.isin(columns, pos)
        cand_mask[row] = np.isin(columns, cand)
    return columns, pos_mask, cand_mask
