"""The index folder on disk: a manifest, the chunks, and one FAISS index per language.

```
index/
  manifest.json      format version, embedder name + fingerprint, documents with hashes, ...
  chunks.jsonl       one chunk per line; its line number is its chunk id
  vectors-<lang>.faiss   the chunks of one language, in chunk-id order
  query-adapter.npy  optional: the query map learned from labelled questions
  labelled-questions.npz  optional: those questions, which lean toward their articles
```

One index per language makes "search in the user's language" an exact search of a smaller
index instead of a filtered search of a big one, and an update in one language leaves the
other languages' indexes untouched. The folder is written whole to a temporary name and
renamed into place (``agent.models.atomic_dir``): a crash leaves the previous index usable.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from agent.errors import ParlaError
from agent.models import atomic_dir
from retrieval.adapter import MEMORY_FILE, QueryAdapter, QuestionMemory, article_key
from retrieval.chunking import Chunk
from retrieval.vectors import IndexSettings, VectorIndex

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the folder layout changes; older folders are refused on load
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
ADAPTER = "query-adapter.npy"
BOOST_CANDIDATES = 32  # extra chunks per language fetched for labelled questions to re-rank


@dataclass(frozen=True)
class DocumentInfo:
    """What the index knows about one document (the UI lists these)."""

    doc_id: str
    title: str
    language: str
    source: str
    hash: str
    """``Document.content_hash``: an unchanged hash means an unchanged document."""
    chunks: int


@dataclass(frozen=True)
class Manifest:
    embedder: str
    """The embedder's name as configured (bundle name, path or hub id)."""
    fingerprint: str
    """Content hash of the embedder's files: the index only matches this model."""
    dimension: int
    chunking: dict[str, int]
    """The chunking settings the chunks were cut with."""
    documents: tuple[DocumentInfo, ...]
    partitions: dict[str, dict[str, Any]]
    """Per language: index kind and chunk count."""
    chunk_count: int
    created: str
    updated: str
    format: int = FORMAT_VERSION
    adapter: dict[str, Any] | None = None
    """Set when queries go through a learned adapter: how many questions taught it, when."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["documents"] = [asdict(d) for d in self.documents]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        docs = tuple(DocumentInfo(**d) for d in data["documents"])
        return cls(**{**data, "documents": docs})


@dataclass(frozen=True, eq=False)
class Partition:
    """One language's vectors; ``chunk_ids[i]`` is the chunk behind FAISS id ``i``."""

    language: str
    index: VectorIndex
    chunk_ids: np.ndarray


@dataclass(frozen=True, eq=False)
class IndexSnapshot:
    """A loaded index: immutable, so a search never sees half of an update."""

    manifest: Manifest
    chunks: tuple[Chunk, ...]
    partitions: dict[str, Partition] = field(default_factory=dict)
    adapter: QueryAdapter | None = None

    def search(
        self, query: np.ndarray, k: int, languages: Sequence[str] | None = None
    ) -> list[Hit]:
        """The ``k`` best chunks for the (embedder's) ``query`` vector over ``languages``
        (None: all), ranked through the adapter when the index has one, and leaning toward
        the articles of similar labelled questions when it keeps them."""
        ranking = self.adapter.apply(query[None, :])[0] if self.adapter is not None else query
        memory = self.adapter.memory if self.adapter is not None else None
        fetch = k if memory is None else k + BOOST_CANDIDATES
        names = self.partitions if languages is None else languages
        hits: list[Hit] = []
        for name in names:
            part = self.partitions.get(name)
            if part is not None:
                hits += _partition_hits(part, ranking, query, fetch, self.adapter is not None)
        if memory is not None:
            hits = self._boosted(hits, *memory.boosts(ranking))
        hits.sort(key=lambda h: -h.rank)
        return hits[:k]

    def article(self, chunk_id: int) -> str:
        """The article a chunk belongs to (``adapter.article_key``: one across languages)."""
        chunk = self.chunks[chunk_id]
        return article_key(chunk.doc_id, chunk.language)

    def _boosted(self, hits: list[Hit], boosts: dict[str, float], default: float) -> list[Hit]:
        return [
            hit._replace(rank=hit.rank + boosts.get(self.article(hit.chunk_id), default))
            for hit in hits
        ]


class Hit(NamedTuple):
    rank: float
    """What the chunks are ordered by: the cosine to the adapted query when there is one,
    plus its article's boost from labelled questions (``QuestionMemory``)."""
    score: float
    """Cosine similarity to the embedder's query vector: thresholds apply to this."""
    chunk_id: int


def _partition_hits(
    part: Partition, ranking: np.ndarray, query: np.ndarray, k: int, adapted: bool
) -> list[Hit]:
    ranks, ids = part.index.search(ranking[None, :], k)
    found = ids[0] >= 0
    local, ranks = ids[0][found], ranks[0][found]
    scores = part.index.reconstruct(local) @ query if adapted else ranks
    return [
        Hit(float(r), float(s), int(part.chunk_ids[i]))
        for r, s, i in zip(ranks, scores, local, strict=True)
    ]


def write_index(out: Path, snapshot: IndexSnapshot) -> None:
    """Write the whole folder atomically; the manifest goes last."""
    with atomic_dir(out) as tmp:
        with (tmp / CHUNKS).open("w", encoding="utf-8") as fh:
            for chunk in snapshot.chunks:
                fh.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        for language, part in snapshot.partitions.items():
            part.index.save(tmp / partition_file(language))
        if snapshot.adapter is not None:
            snapshot.adapter.save(tmp / ADAPTER)
        if snapshot.adapter is not None and snapshot.adapter.memory is not None:
            snapshot.adapter.memory.save(tmp / MEMORY_FILE)
        text = json.dumps(snapshot.manifest.to_json(), ensure_ascii=False, indent=1)
        (tmp / MANIFEST).write_text(text + "\n", encoding="utf-8")


def partition_file(language: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", language) or "und"
    return f"vectors-{safe}.faiss"


def read_manifest(path: Path) -> Manifest:
    """The manifest of an index folder, or a one-line error saying what to do."""
    file = path / MANIFEST
    if not path.is_dir():
        raise ParlaError(f"index folder {path} does not exist: build it with `parla index build`")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParlaError(f"{path} is not a Parla index (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise ParlaError(f"cannot read {file}: {exc}") from None
    version = data.get("format") if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        raise ParlaError(
            f"index {path} has format {version}, this Parla reads format {FORMAT_VERSION}: "
            f"rebuild it with `parla index build --kb <folder> --out {path}`"
        )
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError) as exc:
        raise ParlaError(f"{file} is damaged ({exc}): rebuild the index") from None


def read_index(path: Path, settings: IndexSettings) -> IndexSnapshot:
    manifest = read_manifest(path)
    chunks = tuple(_read_chunks(path / CHUNKS))
    if len(chunks) != manifest.chunk_count:
        raise ParlaError(f"index {path} is damaged (chunk count differs): rebuild it")
    languages = np.array([c.language for c in chunks])
    partitions: dict[str, Partition] = {}
    for language in manifest.partitions:
        index = VectorIndex.load(path / partition_file(language), settings)
        ids = np.flatnonzero(languages == language)
        if index.ntotal != len(ids) or index.dimension != manifest.dimension:
            raise ParlaError(f"index {path} is damaged ({language} vectors differ): rebuild it")
        partitions[language] = Partition(language, index, ids)
    adapter = None
    if manifest.adapter is not None:
        adapter = QueryAdapter.load(path / ADAPTER, manifest.adapter.get("queries", 0))
        if adapter.matrix.shape != (manifest.dimension, manifest.dimension):
            raise ParlaError(f"index {path} is damaged (query adapter shape): rebuild it")
        adapter = _with_memory(adapter, path / MEMORY_FILE, manifest.dimension)
    return IndexSnapshot(manifest, chunks, partitions, adapter)


def _with_memory(adapter: QueryAdapter, file: Path, dimension: int) -> QueryAdapter:
    """An index built before labelled questions were kept has none: the map works alone."""
    if not file.exists():
        return adapter
    memory = QuestionMemory.load(file)
    if memory.vectors.ndim != 2 or memory.vectors.shape[1] != dimension:
        raise ParlaError(f"{file} is damaged (vector shape): rebuild the index")
    return replace(adapter, memory=memory)


def _read_chunks(file: Path) -> list[Chunk]:
    try:
        with file.open(encoding="utf-8") as fh:
            return [Chunk(**json.loads(line)) for line in fh if line.strip()]
    except (OSError, ValueError, TypeError) as exc:
        raise ParlaError(f"cannot read {file} ({exc}): rebuild the index") from None
