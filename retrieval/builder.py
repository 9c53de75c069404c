"""Build an index from documents, or update one incrementally without re-embedding the rest.

An update keeps every unchanged document's chunks and vectors, re-chunks only documents whose
content hash changed, and embeds only chunks whose text the old index did not already hold
(editing one paragraph of a long article re-embeds one chunk). A language whose chunks did
not change keeps its FAISS index object as it is, so an HNSW graph is not rebuilt for nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from agent.config import RetrievalConfig
from agent.errors import ParlaError
from retrieval.adapter import (
    AdapterSettings,
    question_memory,
    train_query_adapter,
    training_set,
)
from retrieval.chunking import RULES_VERSION, Chunk, chunk_document
from retrieval.documents import Document, Skipped, read_knowledge_base
from retrieval.embedding import Embedder
from retrieval.queries import LabelledQuery
from retrieval.store import (
    FORMAT_VERSION,
    DocumentInfo,
    IndexSnapshot,
    Manifest,
    Partition,
    read_index,
    write_index,
)
from retrieval.vectors import IndexSettings, VectorIndex, choose_kind

logger = logging.getLogger(__name__)

MIN_CALIBRATION_QUESTIONS = 20  # labelled questions a language needs for its own threshold
EMBED_BATCH = 256  # chunks per embedder call: the progress bar moves, memory stays flat


@dataclass(frozen=True)
class BuildReport:
    """What a build or update did (``parla index build --json`` prints it)."""

    documents: int
    chunks: int
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    embedded: int = 0
    """Chunks sent through the embedder (the rest reused their stored vectors)."""
    skipped: tuple[Skipped, ...] = ()
    partitions: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0


def index_settings(config: RetrievalConfig) -> IndexSettings:
    return IndexSettings(
        kind=config.index_kind,
        approximate_above=config.approximate_above,
        hnsw_m=config.hnsw_m,
        hnsw_ef_construction=config.hnsw_ef_construction,
        hnsw_ef_search=config.hnsw_ef_search,
        device=config.device,
    )


def chunking_settings(config: RetrievalConfig) -> dict[str, int]:
    """What the chunks depend on besides the documents: a change re-chunks every document."""
    return {
        "rules": RULES_VERSION,
        "chunk_tokens": config.chunk_tokens,
        "overlap_sentences": config.chunk_overlap_sentences,
        "min_section_tokens": config.min_section_tokens,
    }


def build_index(
    kb: str | Path,
    out: str | Path,
    embedder: Embedder,
    config: RetrievalConfig,
    train_queries: Sequence[LabelledQuery] = (),
) -> tuple[IndexSnapshot, BuildReport]:
    """Index the folder (or file) ``kb`` into ``out``, reusing what an index there already has.

    ``train_queries`` (past questions with their documents) teach the index a query adapter,
    unless the previous index's adapter learned from the same questions over the same chunks;
    without them an adapter the previous index had is kept. A folder that did not change is
    not rewritten.
    """
    started = time.monotonic()
    out = Path(out).expanduser()
    ingested = read_knowledge_base(kb, config.max_file_mb)
    previous = previous_index(out, embedder, config)
    snapshot, report = assemble(previous, ingested.documents, (), embedder, config, prune=True)
    keep = config.calibrated_keep
    taught = bool(train_queries) and not already_taught(
        previous, snapshot, train_queries, keep, shown=config.top_k
    )
    if taught:
        snapshot = teach(snapshot, train_queries, embedder, keep=keep, shown=config.top_k)
    if previous is None or taught or not same_content(snapshot, previous):
        write_index(out, snapshot)
    else:
        snapshot = previous
    report = _finish(report, started, skipped=ingested.skipped)
    logger.info(
        "index %s: %d documents, %d chunks (%d added, %d updated, %d removed, %d chunks embedded)",
        out, report.documents, report.chunks, len(report.added), len(report.updated),
        len(report.removed), report.embedded,
    )  # fmt: skip
    return snapshot, report


def previous_index(out: Path, embedder: Embedder, config: RetrievalConfig) -> IndexSnapshot | None:
    """The index already at ``out`` if its vectors can be reused, else None (full build)."""
    if not (out / "manifest.json").exists():
        return None
    try:
        snapshot = read_index(out, index_settings(config))
    except ParlaError as exc:
        logger.warning("replacing the index at %s: %s", out, exc)
        return None
    if snapshot.manifest.fingerprint != embedder.fingerprint:
        logger.warning(
            "replacing the index at %s: it was built with embedder %s, now %s",
            out, snapshot.manifest.embedder, embedder.name,
        )  # fmt: skip
        return None
    return snapshot


def assemble(
    previous: IndexSnapshot | None,
    upsert: Sequence[Document],
    delete: Sequence[str],
    embedder: Embedder,
    config: RetrievalConfig,
    prune: bool = False,
) -> tuple[IndexSnapshot, BuildReport]:
    """A new snapshot: ``previous`` with ``upsert`` added or replaced and ``delete`` removed.

    ``prune=True`` (a folder build) also removes every previous document not in ``upsert``.
    """
    chunking = chunking_settings(config)
    old = _OldIndex(previous, chunking)
    if previous is not None and not prune and not old.same_chunking:
        logger.warning(
            "chunking settings changed since the index was built: only updated documents are "
            "re-chunked; rebuild it from its folder to re-chunk the rest"
        )
    wanted = {d.doc_id for d in upsert}
    if len(wanted) != len(upsert):
        raise ParlaError("two documents share one id: document ids must be unique")
    gone = set(delete) | (set(old.infos) - wanted if prune else set())
    kept = [d for d in old.infos.values() if d.doc_id not in wanted and d.doc_id not in gone]
    plan: list[tuple[DocumentInfo, list[Chunk]]] = [(d, old.chunks_of(d.doc_id)) for d in kept]
    added, updated, unchanged = [], [], len(kept)
    for doc in upsert:
        info = old.infos.get(doc.doc_id)
        if info is not None and info.hash == doc.content_hash and old.same_chunking:
            plan.append((info, old.chunks_of(doc.doc_id)))
            unchanged += 1
            continue
        chunks = chunk_document(
            doc, embedder.count_tokens, config.chunk_tokens, config.chunk_overlap_sentences,
            config.min_section_tokens,
        )  # fmt: skip
        (updated if info is not None else added).append(doc.doc_id)
        plan.append((_info(doc, len(chunks)), chunks))
    removed = tuple(sorted(gone & set(old.infos)))
    snapshot, embedded = _snapshot(plan, old, embedder, config)
    if previous is not None and previous.adapter is not None:  # queries map the same way
        manifest = replace(snapshot.manifest, adapter=previous.manifest.adapter)
        snapshot = replace(snapshot, manifest=manifest, adapter=previous.adapter)
    report = BuildReport(
        documents=len(plan), chunks=len(snapshot.chunks), added=tuple(added),
        updated=tuple(updated), removed=removed, unchanged=unchanged, embedded=embedded,
        partitions=snapshot.manifest.partitions,
    )  # fmt: skip
    return snapshot, report


def teach(
    snapshot: IndexSnapshot,
    queries: Sequence[LabelledQuery],
    embedder: Embedder,
    settings: AdapterSettings | None = None,
    keep: float = 0.0,
    *,
    shown: int,
) -> IndexSnapshot:
    """``snapshot`` with a query adapter trained on ``queries`` (see ``retrieval.adapter``)
    and, when ``keep`` is set, each language's relevance threshold calibrated on them over
    the ``shown`` passages a search hands on."""
    logger.info("learning a query adapter from %d labelled questions", len(queries))
    vectors = embed_questions(embedder, [q.query for q in queries])
    chunks = snapshot.chunks
    data = training_set(queries, vectors, [c.doc_id for c in chunks], [c.language for c in chunks])
    settings = settings or AdapterSettings()
    adapter = train_query_adapter(data, chunk_vectors(snapshot), settings)
    languages = {d.doc_id: d.language for d in snapshot.manifest.documents}
    memory = question_memory(queries, vectors, adapter, languages, settings.question_weight)
    adapter = replace(adapter, memory=memory)
    info: dict[str, object] = {
        "queries": adapter.queries,
        "question_weight": settings.question_weight if memory is not None else 0.0,
        "questions_hash": questions_hash(queries),
        "trained": datetime.now(UTC).isoformat(timespec="seconds"),
        "calibration_keep": keep,
        "calibration_shown": shown,
    }
    taught = replace(snapshot, adapter=adapter)
    if keep:
        info["min_score_by_language"] = calibrate_thresholds(taught, queries, vectors, keep, shown)
        logger.info("relevance thresholds per language: %s", info["min_score_by_language"])
    return replace(taught, manifest=replace(snapshot.manifest, adapter=info))


def embed_questions(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Query vectors of ``texts``, each distinct text embedded once (a question labelled with
    its own language's article and the English one appears twice)."""
    distinct = list(dict.fromkeys(texts))
    vectors = embedder.embed_queries(distinct)
    row = {text: i for i, text in enumerate(distinct)}
    return vectors[[row[t] for t in texts]]


def calibrate_thresholds(
    snapshot: IndexSnapshot,
    queries: Sequence[LabelledQuery],
    vectors: np.ndarray,
    keep: float,
    shown: int,
) -> dict[str, float]:
    """Per language, the best-passage score that ``keep`` of its labelled questions reach.

    A search is relevant when any of the ``shown`` passages it hands on reaches the threshold
    (``KnowledgeBase``), so that is what is measured here: the best score among them. The
    labelled-question memory is left out: each question would vote for its own article.

    e5's cosines run on different scales per language (the demo's answerable questions score
    a median 0.878 in German and 0.907 in Chinese), so one ``min_score`` turns many German
    questions away and lets more off-topic Chinese ones through. Only questions in the
    language of a document they name count; a language with fewer than
    ``MIN_CALIBRATION_QUESTIONS`` keeps the configured ``min_score``.
    """
    doc_language = {d.doc_id: d.language for d in snapshot.manifest.documents}
    if snapshot.adapter is not None and snapshot.adapter.memory is not None:
        snapshot = replace(snapshot, adapter=replace(snapshot.adapter, memory=None))
    best: dict[str, list[float]] = {}
    for query, vector in zip(queries, vectors, strict=True):
        lang = query.lang
        named = {doc_language.get(doc_id) for doc_id in query.relevant}
        if lang not in snapshot.partitions or lang not in named:
            continue
        hits = snapshot.search(vector, shown, [lang])
        if hits:
            best.setdefault(lang, []).append(max(h.score for h in hits))
    return {
        lang: round(float(np.quantile(scores, 1.0 - keep)), 4)
        for lang, scores in sorted(best.items())
        if len(scores) >= MIN_CALIBRATION_QUESTIONS
    }


def already_taught(
    previous: IndexSnapshot | None,
    snapshot: IndexSnapshot,
    queries: Sequence[LabelledQuery],
    keep: float = 0.0,
    settings: AdapterSettings | None = None,
    *,
    shown: int,
) -> bool:
    """The previous adapter learned from ``queries`` over exactly these chunks, calibrated
    with the same ``keep`` over as many ``shown`` passages, and keeping its questions with the
    same weight."""
    if previous is None or previous.manifest.adapter is None:
        return False
    info = previous.manifest.adapter
    same_questions = info.get("questions_hash") == questions_hash(queries)
    same_calibration = float(info.get("calibration_keep", 0.0)) == keep and (
        not keep or info.get("calibration_shown") == shown
    )
    weight = (settings or AdapterSettings()).question_weight
    same_weight = float(info.get("question_weight", 0.0)) == weight
    return (
        same_questions and same_calibration and same_weight and previous.chunks == snapshot.chunks
    )


def questions_hash(queries: Sequence[LabelledQuery]) -> str:
    """Identifies a set of training questions (to retrain only when they change)."""
    digest = hashlib.sha256()
    for q in sorted(queries, key=lambda q: (q.query, q.relevant)):
        digest.update("\x1f".join((q.query, *q.relevant, "\x1e")).encode("utf-8"))
    return digest.hexdigest()[:16]


def chunk_vectors(snapshot: IndexSnapshot) -> np.ndarray:
    """Every chunk's vector, in chunk-id order, read back from the FAISS indexes."""
    vectors = np.zeros((len(snapshot.chunks), snapshot.manifest.dimension), dtype=np.float32)
    for part in snapshot.partitions.values():
        vectors[part.chunk_ids] = part.index.vectors()
    return vectors


def same_content(a: IndexSnapshot, b: IndexSnapshot) -> bool:
    """True when writing ``a`` over ``b`` would change nothing but timestamps."""
    return (
        a.chunks == b.chunks
        and a.manifest.documents == b.manifest.documents
        and a.manifest.chunking == b.manifest.chunking
        and a.adapter is b.adapter
        and a.partitions.keys() == b.partitions.keys()
        and all(a.partitions[k].index is b.partitions[k].index for k in a.partitions)
    )


def _info(doc: Document, chunks: int) -> DocumentInfo:
    return DocumentInfo(doc.doc_id, doc.title, doc.language, doc.source, doc.content_hash, chunks)


def _snapshot(
    plan: list[tuple[DocumentInfo, list[Chunk]]],
    old: _OldIndex,
    embedder: Embedder,
    config: RetrievalConfig,
) -> tuple[IndexSnapshot, int]:
    chunks = [c for _, doc_chunks in plan for c in doc_chunks]
    if not chunks:
        raise ParlaError("nothing left to index: the knowledge base has no documents")
    vectors, embedded = _vectors(chunks, old, embedder)
    languages = np.array([c.language for c in chunks])
    settings = index_settings(config)
    partitions: dict[str, Partition] = {}
    for language in sorted(set(languages.tolist())):
        ids = np.flatnonzero(languages == language)
        kind = choose_kind(len(ids), settings)
        reused = old.partition_if_same(language, [chunks[i] for i in ids], kind)
        index = reused or VectorIndex.build(vectors[ids], settings, embedder.dimension)
        partitions[language] = Partition(language, index, ids)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = Manifest(
        embedder=embedder.name,
        fingerprint=embedder.fingerprint,
        dimension=embedder.dimension,
        chunking=chunking_settings(config),
        documents=tuple(info for info, _ in plan),
        partitions={
            lang: {"kind": p.index.kind, "chunks": int(len(p.chunk_ids))}
            for lang, p in partitions.items()
        },
        chunk_count=len(chunks),
        created=old.created or now,
        updated=now,
        format=FORMAT_VERSION,
    )
    return IndexSnapshot(manifest, tuple(chunks), partitions), embedded


def _vectors(chunks: list[Chunk], old: _OldIndex, embedder: Embedder) -> tuple[np.ndarray, int]:
    """A vector per chunk: the old index's when it embedded the same text, else a new one."""
    vectors = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    todo: list[int] = []
    for i, chunk in enumerate(chunks):
        found = old.vector_for(chunk)
        if found is None:
            todo.append(i)
        else:
            vectors[i] = found
    if todo:
        texts = [chunks[i].embedding_text() for i in todo]
        logger.info("embedding %d chunk(s) with %s", len(texts), embedder.name)
        with tqdm(total=len(texts), desc="embedding", unit="chunk", leave=False) as bar:
            for start in range(0, len(texts), EMBED_BATCH):
                batch = texts[start : start + EMBED_BATCH]
                vectors[todo[start : start + len(batch)]] = embedder.embed_passages(batch)
                bar.update(len(batch))
    return vectors, len(todo)


def text_key(chunk: Chunk) -> str:
    return hashlib.sha256(chunk.embedding_text().encode("utf-8")).hexdigest()


class _OldIndex:
    """Lookups into the previous snapshot (documents, chunks, vectors); empty when None."""

    def __init__(self, snapshot: IndexSnapshot | None, chunking: dict[str, int]) -> None:
        self.snapshot = snapshot
        manifest = snapshot.manifest if snapshot else None
        self.infos = {d.doc_id: d for d in manifest.documents} if manifest else {}
        self.created = manifest.created if manifest else ""
        self.same_chunking = manifest is not None and manifest.chunking == chunking
        self._by_doc: dict[str, list[int]] = {}
        self._by_text: dict[str, int] = {}
        for i, chunk in enumerate(snapshot.chunks if snapshot else ()):
            self._by_doc.setdefault(chunk.doc_id, []).append(i)
        self._vectors: dict[str, np.ndarray] = {}  # per language, read from FAISS when needed

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        assert self.snapshot is not None
        return [self.snapshot.chunks[i] for i in self._by_doc.get(doc_id, [])]

    def vector_for(self, chunk: Chunk) -> np.ndarray | None:
        if self.snapshot is None:
            return None
        if not self._by_text:
            self._by_text = {text_key(c): i for i, c in enumerate(self.snapshot.chunks)}
        i = self._by_text.get(text_key(chunk))
        if i is None:
            return None
        old_chunk = self.snapshot.chunks[i]
        part = self.snapshot.partitions[old_chunk.language]
        if old_chunk.language not in self._vectors:
            self._vectors[old_chunk.language] = part.index.vectors()
        local = int(np.searchsorted(part.chunk_ids, i))
        return self._vectors[old_chunk.language][local]

    def partition_if_same(
        self, language: str, chunks: list[Chunk], kind: str
    ) -> VectorIndex | None:
        """The old FAISS index of ``language`` when it holds exactly these chunks."""
        if self.snapshot is None or language not in self.snapshot.partitions:
            return None
        part = self.snapshot.partitions[language]
        if part.index.kind != kind:
            return None
        old_chunks = [self.snapshot.chunks[i] for i in part.chunk_ids]
        return part.index if old_chunks == chunks else None


def _finish(report: BuildReport, started: float, skipped: tuple[Skipped, ...]) -> BuildReport:
    return replace(report, skipped=skipped, seconds=round(time.monotonic() - started, 2))
