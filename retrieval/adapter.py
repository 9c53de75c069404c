"""A query adapter learned from labelled questions (``parla index build --train-queries F``).

Off the shelf, multilingual-e5-small ranks the right help article first for only about 60% of
the demo's held-out questions in German, Spanish or French. Past questions with the article
that answered them are the cheapest fix: a linear map of query vectors (initialised to the
identity, pulled back toward it) trained so each question scores its article's chunks above
every other chunk of that language. Passages are untouched, so the index, its incremental
updates and its embedder fingerprint stay as they are; only queries go through the map.
Training takes seconds on a CPU; ``eval/bench_retrieval.py demo`` measures the effect.

The questions themselves are kept too (``QuestionMemory``): a new question close to a past one
leans toward the article that answered it, in whatever language the past one was asked. On the
demo's held-out questions this adds 2.7 points of recall@1 and 2 of recall@5 over the map alone.
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
MEMORY_FILE = "labelled-questions.npz"


@dataclass(frozen=True)
class AdapterSettings:
    steps: int = 200  # full-batch Adam steps over the labelled questions
    learning_rate: float = 1e-3
    temperature: float = 0.02  # softmax temperature of the ranking loss (e5 trained at 0.01)
    pull_to_identity: float = 1e-3  # L2 weight toward the identity: unseen questions stay safe
    seed: int = 0
    # What the most similar labelled question adds to the rank of its article's chunks, times
    # their cosine; 0 keeps none. Chosen with pull_to_identity on the demo's validation
    # questions against an index taught by the training questions alone (about 560 per
    # language): recall@1 (weight, pull) (0.05, 1e-2) 0.879; (0.1, 1e-2) 0.886; (0.2, 1e-2)
    # 0.909; (0.3, 1e-2) 0.913; (0.5, 1e-2) 0.913; (0.2, 1e-3) 0.924; (0.3, 1e-3) 0.928;
    # (0.05, 1e-3) 0.886; (0.05, 3e-2) 0.845. With 176 questions per language 0.05 had been
    # best: the more questions an index keeps, the more a close one is worth.
    question_weight: float = 0.3


def article_key(doc_id: str, language: str) -> str:
    """What a document is an article of: a help centre kept as one folder per language
    (``de/returns.md``, ``en/returns.md``) has one article in several languages, so the
    language folder is dropped; any other id is its own article."""
    head, sep, rest = doc_id.partition("/")
    return rest if sep and head == language else doc_id


@dataclass(frozen=True, eq=False)
class QuestionMemory:
    """Past questions (adapted unit vectors) and the articles that answered them."""

    vectors: np.ndarray
    articles: tuple[tuple[str, ...], ...]
    """Per question: ``article_key`` of each document it names."""
    weight: float

    def __post_init__(self) -> None:
        import torch

        if len(self.vectors) != len(self.articles):
            raise ValueError("a question memory needs one article list per vector")
        keys = sorted({key for names in self.articles for key in names})
        slot = {key: i for i, key in enumerate(keys)}
        pairs = [(row, slot[key]) for row, names in enumerate(self.articles) for key in names]
        rows, slots = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_slots", slots)
        object.__setattr__(self, "_matrix", torch.from_numpy(np.ascontiguousarray(self.vectors)))

    def boosts(self, ranking: np.ndarray) -> tuple[dict[str, float], float]:
        """Per article: ``weight`` times the cosine of its closest past question; and the
        boost for an article no past question names, their mean (so labelling some articles
        does not push the others down).

        In torch, like the embedder: numpy's BLAS threads would keep spinning after the
        product and slow the next question's embedding on a 2-core machine (measured: search
        p50 17 -> 36 ms)."""
        import torch

        cosines = self._matrix @ torch.from_numpy(ranking.astype(np.float32, copy=False))
        best = torch.full((len(self._keys),), -1.0).scatter_reduce(
            0, self._slots, cosines[self._rows], reduce="amax"
        )
        boosts = (self.weight * best).tolist()
        return dict(zip(self._keys, boosts, strict=True)), sum(boosts) / len(boosts)

    def save(self, path: Path) -> None:
        articles = np.array(["\n".join(names) for names in self.articles], dtype=str)
        np.savez(
            path,
            vectors=self.vectors.astype(np.float32),
            articles=articles,
            weight=np.float32(self.weight),
        )

    @classmethod
    def load(cls, path: Path) -> QuestionMemory:
        try:
            with np.load(path, allow_pickle=False) as data:
                articles = tuple(tuple(str(a).split("\n")) for a in data["articles"])
                return cls(data["vectors"], articles, float(data["weight"]))
        except (OSError, ValueError, KeyError) as exc:
            raise ParlaError(f"cannot read labelled questions {path} ({exc}): rebuild") from None


@dataclass(frozen=True, eq=False)
class QueryAdapter:
    """``normalise(q @ matrix)`` for every query vector ``q``."""

    matrix: np.ndarray
    queries: int = 0
    """How many labelled questions it was trained on."""
    memory: QuestionMemory | None = None
    """The labelled questions, to lean toward their articles (None: the map alone)."""

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


def question_memory(
    queries: Sequence[LabelledQuery],
    vectors: np.ndarray,
    adapter: QueryAdapter,
    doc_languages: dict[str, str],
    weight: float,
) -> QuestionMemory | None:
    """The labelled questions that name an indexed document, mapped like queries."""
    rows, articles = [], []
    for row, q in enumerate(queries):
        names = [article_key(d, doc_languages[d]) for d in q.relevant if d in doc_languages]
        if names:
            rows.append(row)
            articles.append(tuple(dict.fromkeys(names)))
    if weight <= 0 or not rows:
        return None
    return QuestionMemory(adapter.apply(vectors[rows]), tuple(articles), weight)


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
