"""The agent's live knowledge base as the knowledge-base tab's ``IndexBackend``.

Re-indexing builds the operator's folder into the app's own index folder (incrementally: only
new and changed documents are embedded, with the embedder already loaded), then swaps the new
``KnowledgeBase`` into the agent with one assignment. The first re-index starts from a copy of
the index being served, so the demo's 264 articles are not embedded again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.errors import ParlaError
from agent.models import atomic_dir
from agent.pipeline import Stages
from ui.knowledge import Progress

logger = logging.getLogger(__name__)


class LiveIndex:
    def __init__(self, stages: Stages, index_dir: Path) -> None:
        self.stages, self.index_dir = stages, Path(index_dir)

    def indexed(self) -> Mapping[str, str]:
        documents = getattr(self.stages.knowledge, "documents", None)
        return {d.doc_id: d.hash for d in documents()} if documents else {}

    def update(self, kb_dir: Path, progress: Progress) -> Mapping[str, Any]:
        from retrieval.builder import build_index
        from retrieval.knowledge_base import KnowledgeBase

        live = self.stages.knowledge
        if not isinstance(live, KnowledgeBase):
            raise ParlaError("re-indexing needs the retrieval knowledge base (retrieval/)")
        progress(0.05, "Reading the documents, embedding new and changed passages…")
        self._seed(getattr(live, "index_dir", None))
        snapshot, report = build_index(kb_dir, self.index_dir, live.embedder, live.config)
        progress(0.95, "Switching to the new index…")
        self.stages.knowledge = KnowledgeBase(live.embedder, snapshot, live.config, self.index_dir)
        logger.info("knowledge base swapped: %s", self.index_dir)
        return {
            "documents": report.documents,
            "chunks": report.chunks,
            "embedded": report.embedded,
            "added": list(report.added),
            "updated": list(report.updated),
            "removed": list(report.removed),
        }

    def _seed(self, served: Path | None) -> None:
        """Start from the served index, so unchanged documents keep their vectors."""
        if (self.index_dir / "manifest.json").exists() or served is None:
            return
        if Path(served).resolve() == self.index_dir.resolve():
            return
        with atomic_dir(self.index_dir) as tmp:
            shutil.copytree(served, tmp, dirs_exist_ok=True)
