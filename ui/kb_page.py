"""The knowledge-base tab's behaviour: list, upload, re-index with a progress bar."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from agent.errors import ParlaError
from ui.knowledge import KnowledgeBaseAdmin, ReindexStatus
from ui.render import status_html

logger = logging.getLogger(__name__)

HEADERS = ["document", "title", "language", "status"]


class KnowledgePage:
    def __init__(self, admin: KnowledgeBaseAdmin) -> None:
        self.admin = admin

    def table(self) -> tuple[list[list[str]], str]:
        """The document list and a one-line summary above it."""
        rows = self.admin.documents()
        waiting = sum(r.status != "indexed" for r in rows)
        languages = Counter(r.language for r in rows if r.language)
        summary = f"**{sum(r.status == 'indexed' for r in rows)} documents** in the index"
        if languages:
            summary += " · " + ", ".join(f"{lang} {n}" for lang, n in sorted(languages.items()))
        if waiting:
            summary += f" · **{waiting} waiting for a re-index**"
        return [[r.doc_id, r.title, r.language, r.status] for r in rows], summary

    def add(self, files: Sequence[Any] | None) -> tuple[str, str, bool, list[list[str]], str]:
        """Upload, then re-index: (status line, progress bar, re-index started?, table, summary).

        Bad files change nothing. The table is read before the re-index starts, so it shows the
        new files as waiting.
        """
        paths = [_path(f) for f in (files or [])]
        try:
            added = self.admin.add_files(paths)
        except ParlaError as exc:
            bar = progress_html(self.admin.status())
            return (status_html(str(exc), "error"), bar, False, *self.table())
        rows, summary = self.table()
        status = self.admin.start_reindex()
        names = ", ".join(added)
        note = f"Added {names}. Re-indexing in the background; chat keeps working meanwhile."
        return (
            status_html(note, "ok"),
            progress_html(status),
            status.state == "running",
            rows,
            summary,
        )

    def reindex(self) -> tuple[str, bool]:
        status = self.admin.start_reindex()
        return progress_html(status), status.state == "running"

    def progress(self) -> tuple[str, bool]:
        """(progress bar, still running?) for the polling timer."""
        status = self.admin.status()
        return progress_html(status), status.state == "running"


def progress_html(status: ReindexStatus) -> str:
    if status.state == "idle":
        return status_html(
            "Changed files in the folder by hand? Re-index to answer from them.", "info"
        )
    percent = round(100 * (1.0 if status.state == "done" else status.fraction))
    kind = {"running": "info", "done": "ok", "failed": "error"}[status.state]
    bar = (
        f'<div class="parla-progress" role="progressbar" aria-valuenow="{percent}" '
        f'aria-valuemin="0" aria-valuemax="100"><div style="width:{percent}%"></div></div>'
    )
    label = status.message
    if status.state == "running":
        label = f"{percent}% · {status.message} ({time.monotonic() - status.since:.0f} s)"
    return (bar if status.state != "failed" else "") + status_html(label, kind)


def _path(item: Any) -> str:
    """Gradio hands uploads over as paths (or objects with a ``name``/``path``)."""
    if isinstance(item, str):
        return item
    return str(getattr(item, "path", None) or getattr(item, "name", item))
