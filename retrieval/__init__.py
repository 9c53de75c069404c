"""Retrieval: the company's documents in a FAISS index that answers in every language.

    from retrieval import load_knowledge_base
    kb = load_knowledge_base(config.retrieval)          # the demo index unless configured
    result = kb.search("¿Puedo devolver un regalo?", "es", k=5)
    result.passages, result.relevant, result.fallback

Modules: ``readers`` (one reader per file format) and ``documents`` (a folder -> documents),
``chunking``, ``embedding`` (sentence-transformers), ``vectors`` (FAISS flat / HNSW),
``store`` (the index folder), ``builder`` (build and incremental update), ``adapter`` (the
query map learned from labelled questions), ``knowledge_base`` (search, list, update),
``setup`` (the demo index) and ``commands`` (``parla index build``).
"""

from retrieval.builder import BuildReport, build_index
from retrieval.documents import Document, read_knowledge_base
from retrieval.knowledge_base import KnowledgeBase, SearchResult, load_knowledge_base
from retrieval.queries import LabelledQuery, read_queries
from retrieval.store import DocumentInfo

__all__ = [
    "BuildReport",
    "Document",
    "DocumentInfo",
    "KnowledgeBase",
    "LabelledQuery",
    "SearchResult",
    "build_index",
    "load_knowledge_base",
    "read_knowledge_base",
    "read_queries",
]
