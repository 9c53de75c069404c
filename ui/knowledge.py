"""The knowledge-base tab's back office: list documents, add files, re-index, swap live.

``KnowledgeBaseAdmin`` is what the page needs. ``FolderKnowledgeBase`` implements it over a
folder of documents and an ``IndexBackend`` (the live index: re-index a folder and start
answering from the result; say which documents it holds). Uploads are checked before anything
is written, so a PDF that is not a PDF changes nothing; re-indexing runs in a background thread
and the new index replaces the live one only once it is complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

UPLOADS = "uploads"  # sub-folder of the knowledge base that uploaded files go to
BINARY_SNIFF_BYTES = 8_192  # a NUL byte in this much of a text file means it is binary

Progress = Callable[[float, str], None]  # fraction done in [0, 1], what is happening


class IndexBackend(Protocol):
    def update(self, kb_dir: Path, progress: Progress) -> Mapping[str, Any]:
        """Re-index ``kb_dir`` and answer from the new index once it is complete.

        Returns counts (``documents``, ``chunks`` ...); raises and keeps the old index on error.
        """
        ...

    def indexed(self) -> Mapping[str, str]:
        """Document id -> content hash, for every document the live index holds."""
        ...


@dataclass(frozen=True)
class DocumentRow:
    doc_id: str
    title: str
    language: str
    status: str
    """``indexed``, ``new``, ``changed``, ``removed`` (until the next re-index), or why skipped."""


@dataclass(frozen=True)
class ReindexStatus:
    state: Literal["idle", "running", "done", "failed"] = "idle"
    fraction: float = 0.0
    message: str = ""
    since: float = field(default_factory=time.monotonic)
    """When the current step began (the page shows the seconds spent on it)."""


class KnowledgeBaseAdmin(Protocol):
    def documents(self) -> list[DocumentRow]: ...

    def add_files(self, paths: Sequence[str | Path]) -> list[str]:
        """Add (or replace) documents; raise ``ParlaError`` and change nothing if one is bad."""
        ...

    def start_reindex(self) -> ReindexStatus: ...

    def status(self) -> ReindexStatus: ...

    def article(self, doc_id: str) -> str | None:
        """The full text of a document, for "open the article"."""
        ...


class FolderKnowledgeBase:
    def __init__(self, kb_dir: Path, backend: IndexBackend, max_file_mb: float = 20.0) -> None:
        self.kb_dir, self.backend, self.max_file_mb = Path(kb_dir), backend, max_file_mb
        self._status = ReindexStatus()
        self._listing: list[DocumentRow] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- listing -----------------------------------------------------------------------

    def documents(self) -> list[DocumentRow]:
        """The folder's documents, each compared with what the live index holds.

        While a re-index runs, the listing from before it is returned: reading the folder at
        the same time as the indexer would race on langdetect's shared random state.
        """
        if self._status.state == "running" and self._listing is not None:
            return list(self._listing)
        self._listing = self._scan()
        return list(self._listing)

    def _scan(self) -> list[DocumentRow]:
        from retrieval.documents import read_knowledge_base

        try:
            found = read_knowledge_base(self.kb_dir, self.max_file_mb)
            documents, skipped = found.documents, found.skipped
        except ParlaError:  # an empty or missing folder: only what the index still holds
            documents, skipped = (), ()
        indexed = dict(self.backend.indexed())
        rows = [
            DocumentRow(d.doc_id, d.title, d.language, _state(indexed.get(d.doc_id), d))
            for d in documents
        ]
        rows += [DocumentRow(s.path, "", "", f"skipped: {s.reason}") for s in skipped]
        rows += [
            DocumentRow(doc_id, "", "", "removed (in the index until re-indexed)")
            for doc_id in sorted(set(indexed) - {d.doc_id for d in documents})
        ]
        return sorted(rows, key=lambda r: (r.status == "indexed", r.doc_id))

    # --- uploads -----------------------------------------------------------------------

    def add_files(self, paths: Sequence[str | Path]) -> list[str]:
        if not paths:
            raise ParlaError("No file was uploaded: choose one or more documents first.")
        problems = [f"{Path(p).name}: {why}" for p in paths if (why := self._problem(Path(p)))]
        if problems:
            raise ParlaError("Nothing was added. " + "; ".join(problems))
        names = [Path(p).name for p in paths]
        if len(set(names)) != len(names):
            raise ParlaError("Nothing was added: two of the files have the same name.")
        with self._lock:
            _place_all([Path(p) for p in paths], self.kb_dir / UPLOADS)
        logger.info("added %d document file(s) to %s", len(paths), self.kb_dir / UPLOADS)
        return [f"{UPLOADS}/{name}" for name in names]

    def _problem(self, path: Path) -> str:
        """Why this file cannot become a document ("" when it can)."""
        from retrieval.readers import READERS, ReadError

        if path.name.startswith(".") or not path.name.strip():
            return "hidden or unnamed file"
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            known = ", ".join(READERS)
            return f"unsupported format {path.suffix or '(no extension)'} (use {known})"
        try:
            size = path.stat().st_size
            if size > self.max_file_mb * 1_000_000:
                return f"too large ({size / 1e6:.0f} MB > {self.max_file_mb:g} MB)"
            if path.suffix.lower() != ".pdf" and _looks_binary(path):
                return "binary data, not text"
            raws = reader(path)
        except ReadError as exc:
            return str(exc)
        except UnicodeDecodeError:
            return "not UTF-8 text"
        except OSError as exc:
            return f"unreadable ({exc.strerror or type(exc).__name__})"
        if not any(r.text.strip() and not r.problem for r in raws):
            return "no text in it"
        return ""

    # --- re-index ------------------------------------------------------------------------

    def status(self) -> ReindexStatus:
        return self._status

    def start_reindex(self) -> ReindexStatus:
        with self._lock:
            if self._status.state == "running":
                return self._status
            self._status = ReindexStatus("running", 0.0, "Starting…")
            self._thread = threading.Thread(target=self._reindex, name="parla-reindex", daemon=True)
            self._thread.start()
            return self._status

    def wait(self, timeout: float | None = None) -> ReindexStatus:
        """Block until the running re-index is over (tests, scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._status

    def _reindex(self) -> None:
        started = time.monotonic()
        try:
            stats = self.backend.update(self.kb_dir, self._progress)
        except ParlaError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the page says so; the log has the traceback
            logger.exception("re-index of %s failed", self.kb_dir)
            self._fail(f"{type(exc).__name__}: see the server log")
            return
        docs = stats.get("documents", "all")
        self._status = ReindexStatus(
            "done",
            1.0,
            f"Re-indexed {docs} documents in {time.monotonic() - started:.1f} s: "
            "answers now come from the new index.",
        )

    def _progress(self, fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        self._status = replace(
            self._status, fraction=fraction, message=message, since=time.monotonic()
        )

    def _fail(self, why: str) -> None:
        self._status = ReindexStatus(
            "failed", 0.0, f"Re-indexing failed ({why}). The previous index is still answering."
        )

    # --- articles ---------------------------------------------------------------------

    def article(self, doc_id: str) -> str | None:
        from retrieval.documents import read_knowledge_base

        path = (self.kb_dir / doc_id.split("#", 1)[0]).resolve()
        if not path.is_file() or not path.is_relative_to(self.kb_dir.resolve()):
            return None
        try:
            found = read_knowledge_base(path, self.max_file_mb)
        except ParlaError:
            return None
        wanted = path.name + (f"#{doc_id.split('#', 1)[1]}" if "#" in doc_id else "")
        return next((d.text for d in found.documents if d.doc_id == wanted), None)


def _state(indexed_hash: str | None, document: Any) -> str:
    if indexed_hash is None:
        return "new"
    return "indexed" if indexed_hash == document.content_hash else "changed"


def _looks_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        return b"\0" in fh.read(BINARY_SNIFF_BYTES)


def _place_all(files: list[Path], folder: Path) -> None:
    """Copy every file into ``folder``, replacing same-named ones: all of them or none."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=folder))
    except OSError as exc:
        raise ParlaError(f"Nothing was added: cannot write to {folder} ({exc.strerror}).") from None
    backups: list[tuple[Path, Path | None]] = []
    try:
        for file in files:  # copy first: a full disk fails here, before anything is replaced
            shutil.copyfile(file, staging / file.name)
        for file in files:
            target = folder / file.name
            backup = None
            if target.exists():
                backup = staging / f".old-{file.name}"
                os.replace(target, backup)
            backups.append((target, backup))
            os.replace(staging / file.name, target)
    except OSError as exc:
        for target, backup in reversed(backups):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        raise ParlaError(f"Nothing was added: writing failed ({exc.strerror}).") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
