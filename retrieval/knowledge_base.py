"""The knowledge base the agent searches: an index folder plus the embedder that built it.

``load_knowledge_base(config)`` loads the embedder once and the index; ``search`` answers in
the user's language first and falls back to every language when the best passage in that
language is weak (a help centre translated only in part still answers a Portuguese question
from the English article), putting the user's own copy of an article before its
translations. Updates build a new immutable snapshot and swap it in with one
assignment, so searches running meanwhile see the old index or the new one, never a mix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.config import RetrievalConfig
from agent.errors import ParlaError
from agent.messages import Passage
from agent.models import DEMO_PREFIX, demo_path
from retrieval.builder import BuildReport, assemble, build_index, index_settings
from retrieval.documents import Document
from retrieval.embedding import Embedder, embedder_fingerprint, load_embedder
from retrieval.store import (
    DocumentInfo,
    Hit,
    IndexSnapshot,
    read_index,
    read_manifest,
    write_index,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    """Passages for one question, and whether any of them is worth answering from."""

    passages: tuple[Passage, ...]
    """Best first; present even when ``relevant`` is False (the trace shows them). Each
    ``score`` is the embedder's cosine similarity; with a learned query adapter the order is
    the adapter's, so scores need not decrease strictly."""
    relevant: bool
    """False when no passage reaches ``min_score`` (``min_score_other_language`` for a passage
    in another language): "no relevant passage"."""
    language: str | None = None
    """The language asked for (None: no preference)."""
    fallback: bool = False
    """True when passages were searched in every language, because the asked language had
    none or only weak ones."""
    best_same_language: float | None = None
    """The best score in the asked language, when it was searched."""

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages of the passages returned, best first, without repeats."""
        return tuple(dict.fromkeys(p.language for p in self.passages))


class KnowledgeBase:
    """Search an index of help-centre documents; list, add, replace and delete documents."""

    def __init__(
        self,
        embedder: Embedder,
        snapshot: IndexSnapshot,
        config: RetrievalConfig,
        index_dir: Path | None = None,
    ) -> None:
        self.embedder = embedder
        self.config = config
        self.index_dir = index_dir
        self._snapshot = snapshot
        self._update_lock = threading.Lock()  # one update at a time; searches never wait

    def search(self, query: str, language: str | None = None, k: int | None = None) -> SearchResult:
        """The ``k`` (default ``top_k``) passages that best answer ``query``."""
        return self.search_many([query], [language], k)[0]

    def search_many(
        self, queries: Sequence[str], languages: Sequence[str | None], k: int | None = None
    ) -> list[SearchResult]:
        """``search`` for many questions at once: one batched pass through the embedder."""
        k = self.config.top_k if k is None else k
        if k < 1:
            raise ParlaError(f"k must be at least 1, got {k}")
        if len(languages) != len(queries):
            raise ValueError("search_many needs one language (or None) per query")
        snapshot = self._snapshot  # one read: an update swapping it meanwhile is harmless
        asked = [i for i, q in enumerate(queries) if q.strip()]
        vectors = self.embedder.embed_queries([queries[i] for i in asked])
        results = [SearchResult((), relevant=False, language=lang) for lang in languages]
        for i, vector in zip(asked, vectors, strict=True):
            results[i] = self._search_vector(snapshot, vector, languages[i], k)
        return results

    def _search_vector(
        self, snapshot: IndexSnapshot, vector: np.ndarray, language: str | None, k: int
    ) -> SearchResult:
        best_same = None
        if language is not None and language in snapshot.partitions:
            hits = snapshot.search(vector, k, [language])
            best_same = max((h.score for h in hits), default=None)
            shift = self._same_language_min(snapshot, language) - self.config.min_score
            if best_same is not None and best_same >= self.config.fallback_below + shift:
                return self._result(snapshot, hits, language, False, best_same)
        hits = snapshot.search(vector, k * len(snapshot.partitions))  # room for translations
        fallback = language is not None and set(snapshot.partitions) != {language}
        # Relevance is judged on the k best passages, translations included: an article that
        # scores high in any language is about the question (judged without them, 6.4% of
        # the demo's test questions went unanswered instead of 2.7%).
        judged = own_language_first(snapshot, hits[:k], language)
        hits = one_copy_per_article(snapshot, own_language_first(snapshot, hits, language))[:k]
        return self._result(snapshot, hits, language, fallback, best_same, judged)

    def _result(
        self,
        snapshot: IndexSnapshot,
        hits: list[Hit],
        language: str | None,
        fallback: bool,
        best_same: float | None,
        judged: list[Hit] | None = None,
    ) -> SearchResult:
        """``judged`` (default ``hits``): the hits whose scores decide relevance."""
        passages = tuple(_passage(snapshot, h.score, h.chunk_id) for h in hits)
        top = (hits if judged is None else judged)[: self.config.top_k]  # whatever k is asked
        shown = [_passage(snapshot, h.score, h.chunk_id) for h in top]
        relevant = any(p.score >= self._threshold(snapshot, p, language) for p in shown)
        return SearchResult(passages, relevant, language, fallback, best_same)

    def _threshold(self, snapshot: IndexSnapshot, passage: Passage, language: str | None) -> float:
        """Cross-lingual cosines run lower (0.83 against 0.88 for answerable demo questions),
        so a passage in another language than the question needs a lower score."""
        if language is None or passage.language == language:
            return self._same_language_min(snapshot, passage.language)
        return self.config.min_score_other_language

    def _same_language_min(self, snapshot: IndexSnapshot, language: str | None) -> float:
        """The threshold the index calibrated for ``language`` from labelled questions
        (``builder.calibrate_thresholds``), else ``min_score``."""
        learned = (snapshot.manifest.adapter or {}).get("min_score_by_language") or {}
        if self.config.calibrated_keep and language in learned:
            return float(learned[language])
        return self.config.min_score

    def documents(self) -> tuple[DocumentInfo, ...]:
        """Every indexed document: id, title, language, source file, chunk count."""
        return self._snapshot.manifest.documents

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._snapshot.partitions))

    @property
    def snapshot(self) -> IndexSnapshot:
        return self._snapshot

    def update_from(self, kb: str | Path) -> BuildReport:
        """Re-index the folder ``kb`` incrementally, save it, and start answering from it."""
        with self._update_lock:
            out = self._writable_dir()
            snapshot, report = build_index(kb, out, self.embedder, self.config)
            self._snapshot = snapshot
        return report

    def apply(self, upsert: Sequence[Document] = (), delete: Sequence[str] = ()) -> BuildReport:
        """Add or replace ``upsert`` and remove the ids in ``delete``; only new text is embedded."""
        with self._update_lock:
            unknown = sorted(set(delete) - {d.doc_id for d in self.documents()})
            if unknown:
                raise ParlaError(f"cannot delete unknown document(s): {', '.join(unknown[:5])}")
            snapshot, report = assemble(self._snapshot, upsert, delete, self.embedder, self.config)
            if self.index_dir is not None:
                write_index(self.index_dir, snapshot)
            self._snapshot = snapshot
        return report

    def reload(self) -> None:
        """Re-read the index folder (after another process rebuilt it)."""
        if self.index_dir is None:
            raise ParlaError("this knowledge base was not loaded from a folder")
        snapshot = open_index(self.index_dir, self.embedder, self.config)
        with self._update_lock:
            self._snapshot = snapshot

    def _writable_dir(self) -> Path:
        if self.index_dir is None:
            raise ParlaError("this knowledge base was not loaded from a folder: nowhere to save")
        return self.index_dir


def own_language_first(snapshot: IndexSnapshot, hits: list[Hit], language: str | None) -> list[Hit]:
    """``hits`` from every language, each article's passages in ``language`` moved up to where
    the article first appears: the same passages, the user's own copy of an article before
    its translations. On the demo's test questions a translation outranked the asker's own
    copy for 3 of 264 questions. Only the order changes: replacing a translated passage by
    the user's copy's best passage lost the very passage that answered (ROUGE-L 0.360 ->
    0.357, zh 0.431 -> 0.416)."""
    own: dict[str, list[Hit]] = {}
    for hit in hits:
        if snapshot.chunks[hit.chunk_id].language == language:
            own.setdefault(snapshot.article(hit.chunk_id), []).append(hit)
    out, seen = [], set()
    for hit in hits:
        for moved in [*own.get(snapshot.article(hit.chunk_id), []), hit]:
            if moved.chunk_id not in seen:
                seen.add(moved.chunk_id)
                out.append(moved)
    return out


def one_copy_per_article(snapshot: IndexSnapshot, hits: list[Hit]) -> list[Hit]:
    """``hits`` without the translations of an article already found in another language:
    across six languages one article's copies would fill every slot (the demo question "Worauf
    muss ich beim Foto vom Ausweis achten?" got delivery-damaged in de, zh, en and es)."""
    language_of: dict[str, str] = {}
    out = []
    for hit in hits:
        language = snapshot.chunks[hit.chunk_id].language
        if language_of.setdefault(snapshot.article(hit.chunk_id), language) == language:
            out.append(hit)
    return out


def _passage(snapshot: IndexSnapshot, score: float, chunk_id: int) -> Passage:
    chunk = snapshot.chunks[chunk_id]
    return Passage(
        chunk.doc_id, chunk.title, chunk.text, chunk.language, score, chunk_id, chunk.section
    )


def resolve_index_dir(name: str) -> Path:
    """``demo:index`` -> the demo index folder; anything else is a path."""
    if name.startswith(DEMO_PREFIX):
        return demo_path(name)
    return Path(name).expanduser()


def load_knowledge_base(config: RetrievalConfig, index_dir: Path | None = None) -> KnowledgeBase:
    """Load the index (``index_dir``, else ``config.index``) and the embedder it was built with."""
    folder = Path(index_dir) if index_dir is not None else resolve_index_dir(config.index)
    if index_dir is None and config.index.startswith(DEMO_PREFIX) and not folder.exists():
        raise ParlaError(f"the demo index is missing ({folder}): run `parla setup`")
    check_embedder(folder, config.embedder)
    embedder = load_embedder(config.embedder, _torch_device(config), config.embed_batch_size)
    return KnowledgeBase(embedder, open_index(folder, embedder, config), config, folder)


def check_embedder(folder: Path, embedder: str) -> None:
    """Refuse an index built with another model, before loading any model."""
    manifest = read_manifest(folder)
    if manifest.fingerprint != embedder_fingerprint(embedder):
        raise ParlaError(
            f"index {folder} was built with embedder {manifest.embedder!r} "
            f"(fingerprint {manifest.fingerprint}), not with {embedder!r}: rebuild it with "
            f"`parla index build` or set retrieval.embedder to the model that built it"
        )


def open_index(folder: Path, embedder: Embedder, config: RetrievalConfig) -> IndexSnapshot:
    snapshot = read_index(folder, index_settings(config))
    if snapshot.manifest.fingerprint != embedder.fingerprint:
        raise ParlaError(
            f"index {folder} was built with embedder {snapshot.manifest.embedder!r}, "
            f"not {embedder.name!r}: rebuild it with `parla index build`"
        )
    return snapshot


def _torch_device(config: RetrievalConfig) -> str:
    return "cuda" if config.device == "gpu" else "cpu"
