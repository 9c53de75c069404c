"""One reader per file format, chosen by suffix from ``READERS``.

A reader turns a file into ``RawDocument`` objects (one per file, or one per FAQ row) and
raises ``ReadError`` when the whole file is unusable. Headings become ``#`` lines so the
chunker can split every format on sections the same way.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


class ReadError(Exception):
    """The file cannot be used; the message is the reason shown in the skipped list."""


@dataclass(frozen=True)
class RawDocument:
    text: str
    title: str = ""
    language: str | None = None
    fragment: str = ""
    """Set for FAQ rows: ``12`` (row number) or the row's own ``id``."""
    problem: str = ""
    """Why this row cannot be used (the rest of the file still can)."""


def read_text_file(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")  # a BOM is not part of the text


def read_markdown(path: Path) -> list[RawDocument]:
    text = read_text_file(path)
    meta: dict[str, Any] = {}
    match = FRONT_MATTER.match(text)
    if match:
        meta = _front_matter(match.group(1))
        text = text[match.end() :]
    body = _clean_markdown(text)
    title = str(meta.get("title") or _first_heading(body) or "")
    language = meta.get("lang") or meta.get("language")
    return [RawDocument(body, title, str(language) if language else None)]


def _front_matter(block: str) -> dict[str, Any]:
    import yaml

    try:
        meta = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ReadError(
            "bad front matter" + (f" (line {line + 2})" if line is not None else "")
        ) from None
    return meta if isinstance(meta, dict) else {}


def _clean_markdown(text: str) -> str:
    """Markdown syntax that only adds noise to embeddings: links, images, emphasis, comments."""
    text = HTML_COMMENT.sub("", text)
    text = MD_IMAGE.sub(r"\1", text)
    text = MD_LINK.sub(r"\1", text)
    return MD_EMPHASIS.sub(r"\2", text)


def _first_heading(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def read_plain_text(path: Path) -> list[RawDocument]:
    return [RawDocument(read_text_file(path))]


class _HTMLText(HTMLParser):
    """Visible text of an HTML page; headings become ``#`` lines, blocks become paragraphs."""

    SKIP = {"script", "style", "noscript", "template", "head", "svg"}
    BLOCKS = {"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "dd", "dt"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.language: str | None = None
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.language = dict(attrs).get("lang") or None
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag != "li" else "\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def read_html(path: Path) -> list[RawDocument]:
    parser = _HTMLText()
    parser.feed(read_text_file(path))
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    language = parser.language.split("-")[0] if parser.language else None
    return [RawDocument(body, parser.title.strip() or _first_heading(body), language)]


def read_faq_csv(path: Path) -> list[RawDocument]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            fields = {f.strip().lower() for f in reader.fieldnames or []}
            if not {"question", "answer"} <= fields:
                raise ReadError("FAQ CSV needs question and answer columns")
            rows = [{(k or "").strip().lower(): v for k, v in row.items()} for row in reader]
        except csv.Error as exc:
            raise ReadError(f"malformed CSV ({exc})") from None
    return [_faq_row(row, number) for number, row in enumerate(rows, 1)]


def read_faq_jsonl(path: Path) -> list[RawDocument]:
    out: list[RawDocument] = []
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                out.append(RawDocument("", fragment=str(number), problem="not valid JSON"))
                continue
            if not isinstance(row, dict):
                out.append(RawDocument("", fragment=str(number), problem="not a JSON object"))
                continue
            out.append(_faq_row(row, number))
    if out and all(r.problem for r in out):
        raise ReadError("no FAQ rows with question and answer")
    return out


def _faq_row(row: dict[str, Any], number: int) -> RawDocument:
    fragment = str(row.get("id") or number).strip()
    question = str(row.get("question") or "").strip()
    answer = str(row.get("answer") or "").strip()
    if not question or not answer:
        return RawDocument("", fragment=fragment, problem="FAQ row without question or answer")
    language = row.get("lang") or row.get("language")
    return RawDocument(answer, question, str(language) if language else None, fragment)


def read_pdf(path: Path) -> list[RawDocument]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        pdf = PdfReader(path)
        if pdf.is_encrypted:
            raise ReadError("encrypted PDF")
        pages = [page.extract_text() or "" for page in pdf.pages]
        title = str((pdf.metadata or {}).get("/Title") or "")
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReadError(f"unreadable PDF ({type(exc).__name__})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise ReadError("PDF without extractable text (scanned?)")
    return [RawDocument(text, title)]


Reader = Callable[[Path], list[RawDocument]]
READERS: dict[str, Reader] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_plain_text,
    ".text": read_plain_text,
    ".html": read_html,
    ".htm": read_html,
    ".csv": read_faq_csv,
    ".jsonl": read_faq_jsonl,
    ".pdf": read_pdf,
}
