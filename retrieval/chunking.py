"""Split a document into chunks: on headings first, then on sentences, within a token budget.

A chunk never crosses a heading unless its section is too small to stand alone, keeps whole
sentences (a sentence longer than the budget is cut on words), and repeats the last sentence(s)
of the previous chunk of the same section so a fact split across two chunks is found in both.
Sizes are counted in the embedder's own tokens: a budget in characters would overflow the
model on Chinese and waste it on English.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.messages import SECTION_SEPARATOR, titled_text
from agent.sentences import rows_as_sentences
from agent.sentences import split_sentences as sentences_of_line
from retrieval.documents import Document

logger = logging.getLogger(__name__)

TokenCounter = Callable[[Sequence[str]], list[int]]
RULES_VERSION = 4  # bump when the cutting rules change: indexes re-chunk every document

HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed, with the context that names it."""

    doc_id: str
    title: str
    language: str
    section: str
    """Headings above the chunk (``Delivery > Costs``), without the document title."""
    text: str

    def embedding_text(self) -> str:
        """What the embedder sees: the title and section make a short passage self-explaining."""
        return titled_text(self.title, self.section, self.text)


@dataclass(frozen=True)
class Section:
    heading: str
    sentences: tuple[str, ...]


def chunk_document(
    doc: Document, count: TokenCounter, max_tokens: int, overlap: int = 1, min_tokens: int = 0
) -> list[Chunk]:
    """Chunks of ``doc`` of at most ``max_tokens`` tokens of text each.

    Sections under ``min_tokens`` are merged into the next section (their heading kept as a
    sentence) so a one-line section does not become a chunk that says almost nothing.
    """
    sections = merge_small_sections(split_sections(doc.text, doc.title), count, min_tokens)
    chunks: list[Chunk] = []
    for section in sections:
        sentences = fit_sentences(list(section.sentences), count, max_tokens)
        for text in pack(sentences, count(sentences), max_tokens, overlap):
            chunks.append(Chunk(doc.doc_id, doc.title, doc.language, section.heading, text))
    return chunks


def split_sections(text: str, title: str = "") -> list[Section]:
    """Sections at Markdown-style headings, each with its heading path and its sentences."""
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    body: list[str] = []

    def close() -> None:
        heading = SECTION_SEPARATOR.join(h for _, h in path if h.strip() != title.strip())
        sentences = tuple(split_sentences("\n".join(body)))
        if sentences:
            sections.append(Section(heading, sentences))
        body.clear()

    for line in text.splitlines():
        match = HEADING.match(line)
        if not match:
            body.append(line)
            continue
        close()
        level = len(match.group(1))
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, match.group(2))]
    close()
    return sections


def split_sentences(text: str) -> list[str]:
    """Sentences of a block of text; paragraphs, list items and table rows (as sentences,
    ``agent.sentences.rows_as_sentences``) always end one. Within a line
    the responder's rules apply (``agent.sentences``), so chunks and answers agree on what a
    sentence is ("z. B." does not end one)."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", rows_as_sentences(text)):
        for line in _logical_lines(paragraph):
            out += _line_sentences(line)
    return out


def _line_sentences(line: str) -> list[str]:
    """A list item's marker stays on its first sentence ("1. Open My orders."): cut alone,
    "1." would read as a sentence and the item would no longer be kept on its own line."""
    marker = LIST_ITEM.match(line)
    if not marker:
        return sentences_of_line(line)
    pieces = sentences_of_line(line[marker.end() :])
    if pieces:
        pieces[0] = f"{marker.group(0).strip()} {pieces[0]}"
    return pieces


def _logical_lines(paragraph: str) -> list[str]:
    """Join wrapped lines back together, but keep each list item on its own."""
    lines: list[str] = []
    for raw in paragraph.splitlines():
        if not raw.strip():
            continue
        if lines and not LIST_ITEM.match(raw):
            lines[-1] += " " + raw.strip()
        else:
            lines.append(raw.strip())
    return lines


def merge_small_sections(
    sections: list[Section], count: TokenCounter, min_tokens: int
) -> list[Section]:
    if min_tokens <= 0 or len(sections) < 2:
        return sections
    sizes = [sum(count(list(s.sentences))) for s in sections]
    out: list[Section] = []
    carry: Section | None = None
    carried = 0
    for section, size in zip(sections, sizes, strict=True):
        if carry is not None:
            prefix = ((section.heading,) if section.heading else ()) + section.sentences
            section = Section(carry.heading, carry.sentences + prefix)
            size += carried
        if size < min_tokens:
            carry, carried = section, size
            continue
        out.append(section)
        carry, carried = None, 0
    if carry is not None:
        if out:
            last = out.pop()
            extra = ((carry.heading,) if carry.heading else ()) + carry.sentences
            out.append(Section(last.heading, last.sentences + extra))
        else:
            out.append(carry)
    return out


def fit_sentences(sentences: list[str], count: TokenCounter, max_tokens: int) -> list[str]:
    """The sentences, with any longer than ``max_tokens`` cut into pieces that fit."""
    out: list[str] = []
    for sentence, size in zip(sentences, count(sentences), strict=True):
        if size <= max_tokens:
            out.append(sentence)
        else:
            out += _cut(sentence, count, max_tokens, size)
    return out


def _cut(sentence: str, count: TokenCounter, max_tokens: int, size: int) -> list[str]:
    words = sentence.split()
    spaced = len(words) > 1
    units = words if spaced else list(sentence)  # Chinese has no spaces: cut on characters
    parts = math.ceil(size / max_tokens)
    step = math.ceil(len(units) / parts)
    pieces = [(" " if spaced else "").join(units[i : i + step]) for i in range(0, len(units), step)]
    out: list[str] = []
    for piece, piece_size in zip(pieces, count(pieces), strict=True):
        if piece_size > max_tokens and len(piece) > 1:
            out += _cut(piece, count, max_tokens, piece_size)
        else:
            out.append(piece)
    return out


def pack(sentences: list[str], sizes: list[int], max_tokens: int, overlap: int) -> list[str]:
    """Greedy packing of whole sentences; each chunk starts with the previous one's tail."""
    joiner = _joiner(sentences)
    chunks: list[str] = []
    current: list[int] = []  # indices into sentences
    for i, size in enumerate(sizes):
        if current and sum(sizes[j] for j in current) + size > max_tokens:
            chunks.append(joiner.join(sentences[j] for j in current))
            tail = current[-overlap:] if overlap > 0 else []
            while tail and sum(sizes[j] for j in tail) + size > max_tokens:
                tail = tail[1:]
            current = list(tail)
        current.append(i)
    if current:
        chunks.append(joiner.join(sentences[j] for j in current))
    return chunks


def _joiner(sentences: list[str]) -> str:
    """Chinese sentences are joined without a space; list items keep their own line."""
    if any(LIST_ITEM.match(s) for s in sentences):
        return "\n"
    text = "".join(sentences)
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return "" if cjk > len(text) / 3 else " "
