"""Ingestion: a folder or file of help-centre documents -> ``Document`` objects.

A document's id is its path relative to the knowledge-base root (``es/returns-policy.md``),
plus a fragment per FAQ row (``faq.csv#12``). Files that cannot be used (unsupported format,
binary, unreadable, too large, empty, duplicate) are skipped and reported together, never one
warning per file: a help centre of thousands of files should not drown the log.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.errors import ParlaError
from retrieval.readers import READERS, RawDocument, ReadError

logger = logging.getLogger(__name__)

UNKNOWN_LANGUAGE = "und"  # ISO 639-2 "undetermined": detection failed and nothing was given
BINARY_SNIFF_BYTES = 8_192  # a NUL byte in this much of a text file means it is binary
TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".html", ".htm", ".csv", ".jsonl"}


@dataclass(frozen=True)
class Document:
    """One help-centre document (or one FAQ row), ready to chunk."""

    doc_id: str
    """Path relative to the knowledge-base root, plus ``#fragment`` for FAQ rows."""
    title: str
    """From front matter, the first heading, the FAQ question, or the file name."""
    language: str
    """ISO 639-1 code from front matter (or a ``lang`` column), else detected."""
    text: str
    """The body as plain text; Markdown-style ``#`` heading lines mark sections."""
    source: str = ""
    """The file it came from, relative to the root."""

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that is embedded or shown changes."""
        raw = "\x1f".join((self.title, self.language, self.text))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Skipped:
    """A file (or FAQ row) left out of the index, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Ingested:
    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]
    root: Path


def read_knowledge_base(path: str | Path, max_file_mb: float = 20.0) -> Ingested:
    """Every usable document under ``path`` (a folder, searched recursively, or one file)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ParlaError(f"knowledge base {path} does not exist")
    root = path if path.is_dir() else path.parent
    files = sorted(_walk(path)) if path.is_dir() else [path]
    documents: list[Document] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}  # content hash of the text -> id of the first document with it
    for file in files:
        rel = file.relative_to(root).as_posix()
        try:
            raws = _read_file(file, max_file_mb)
        except ReadError as exc:
            skipped.append(Skipped(rel, str(exc)))
            continue
        for raw in raws:
            _add(_to_document(raw, rel), documents, skipped, seen)
    if skipped:
        logger.warning("skipped %d file(s) or row(s): %s", len(skipped), _summary(skipped))
    if not documents:
        raise ParlaError(
            f"no usable documents in {path} (supported: {', '.join(sorted(READERS))}"
            + (f"; skipped {len(skipped)}: {_summary(skipped)})" if skipped else ")")
        )
    return Ingested(tuple(documents), tuple(skipped), root)


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, skipping hidden ones (``.git``, editor swap files)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith("."):
                yield Path(dirpath) / name


def _read_file(file: Path, max_file_mb: float) -> list[RawDocument]:
    reader = READERS.get(file.suffix.lower())
    if reader is None:
        raise ReadError(f"unsupported format {file.suffix or '(no extension)'}")
    try:
        size = file.stat().st_size
        if size > max_file_mb * 1_000_000:
            raise ReadError(f"too large ({size / 1e6:.0f} MB > {max_file_mb:g} MB)")
        if file.suffix.lower() in TEXT_SUFFIXES and _looks_binary(file):
            raise ReadError("binary, not text")
        return reader(file)
    except OSError as exc:
        raise ReadError(f"unreadable ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise ReadError("not UTF-8 text") from None


def _looks_binary(file: Path) -> bool:
    with file.open("rb") as fh:
        return b"\0" in fh.read(BINARY_SNIFF_BYTES)


def _to_document(raw: RawDocument, rel: str) -> Document | Skipped:
    doc_id = f"{rel}#{raw.fragment}" if raw.fragment else rel
    if raw.problem:
        return Skipped(doc_id, raw.problem)
    text = raw.text.strip()
    if not text:
        return Skipped(doc_id, "empty")
    title = raw.title.strip() or Path(rel).stem.replace("-", " ").replace("_", " ")
    given = (raw.language or "").strip().lower().replace("_", "-").split("-")[0]
    language = given or detect_language(f"{title}\n{text}")
    return Document(doc_id, title, language, text, rel)


def _add(
    item: Document | Skipped, documents: list[Document], skipped: list[Skipped], seen: dict
) -> None:
    if isinstance(item, Skipped):
        skipped.append(item)
        return
    key = hashlib.sha256(" ".join(item.text.split()).encode("utf-8")).hexdigest()
    if key in seen:
        skipped.append(Skipped(item.doc_id, f"duplicate of {seen[key]}"))
        return
    seen[key] = item.doc_id
    documents.append(item)


def _summary(skipped: list[Skipped], limit: int = 10) -> str:
    shown = ", ".join(f"{s.path} ({s.reason})" for s in skipped[:limit])
    return shown + (f", and {len(skipped) - limit} more" if len(skipped) > limit else "")


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` (``und`` when unsure), reproducibly.

    langdetect is random unless seeded, and reports Chinese as ``zh-cn``/``zh-tw``.
    """
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0
    try:
        code = detect(text[:2_000])
    except LangDetectException:
        return UNKNOWN_LANGUAGE
    return code.split("-")[0]
