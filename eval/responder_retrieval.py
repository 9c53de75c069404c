"""Retrieval in the loop for the responder's evaluation: the project's own knowledge base."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def load_search(index: str | None) -> Callable[[str, str], Any]:
    """``search(question, language) -> SearchResult`` over ``index`` or the demo index.

    When the demo index has not been built yet (no ``parla setup``), the demo help centre is
    indexed once into ``$PARLA_HOME/cache/responder-eval-index`` with the same settings.
    """
    from agent.config import RetrievalConfig
    from retrieval.knowledge_base import load_knowledge_base, resolve_index_dir

    config = RetrievalConfig()
    folder = Path(index).expanduser() if index else resolve_index_dir(config.index)
    if not index and not folder.exists():
        folder = _eval_index(config)
    kb = load_knowledge_base(config, folder)
    return lambda question, language: kb.search(question, language)


def _eval_index(config) -> Path:
    from agent.datasets import demo_kb_dir
    from agent.models import parla_home
    from retrieval.builder import build_index
    from retrieval.embedding import load_embedder

    out = parla_home() / "cache" / "responder-eval-index"
    logger.info("the demo index is not built: indexing the demo help centre into %s", out)
    embedder = load_embedder(config.embedder, "cpu", config.embed_batch_size)
    build_index(demo_kb_dir(), out, embedder, config)
    return out
