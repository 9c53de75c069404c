"""Cut retrieved passages (Markdown or plain text) into the sentences an answer is built from.

A heading is not an answer, but it says what the sentences under it are about ("Standard
delivery" above "3-5 business days, 4.99 EUR"), so each sentence carries its nearest heading.
A bulleted list is a candidate as a whole ("which payment methods?" is answered by the whole
list), and so is each of its items ("can I swap a gift card for cash?" by one of them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.messages import SECTION_SEPARATOR, Passage

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+(.*)$")
_INLINE_MARKUP = re.compile(r"\*\*|__|`|\[([^\]]*)\]\([^)]*\)")
# A sentence ends at . ! ? followed by a space and an upper-case letter, digit or opening
# quote, or at a CJK full stop / exclamation / question mark (no space needed).
_LATIN_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'“„«¿¡(]?[A-ZÀ-ÖØ-Þ0-9])")
_CJK_END = re.compile(r"(?<=[。！？；])")
# A single letter or a common abbreviation before a full stop does not end a sentence
# (z. B., p. ex., e.g., Nr. 5).
_ABBREVIATION = re.compile(
    r"(?:^|[\s.])(?:[^\W\d_]|etc|usw|bzw|inkl|zzgl|ggf|evtl|approx|vs|ca|nr|no|ex|dr|sr|sra)\.$",
    re.I,
)

_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^:?-{3,}:?$")  # a cell of the |---|:--:| line under the header

MAX_SENTENCE_CHARS = 600  # longer "sentences" (a run-on paragraph) are cut at this length


@dataclass(frozen=True)
class Sentence:
    """One answer candidate cut from a passage."""

    text: str
    """The sentence (or a bulleted list, or one of its items), Markdown markers removed."""
    heading: str
    """The nearest heading above it in its passage, or the passage's title."""
    doc_id: str = ""
    """The document it comes from."""
    passage: int = 0
    """Index of its passage in the list handed to the responder."""
    position: int = 0
    """Index of the sentence within its passage."""


def strip_front_matter(text: str) -> str:
    return _FRONT_MATTER.sub("", text.replace("\r\n", "\n"), count=1)


def split_passages(passages: Sequence[Passage]) -> list[Sentence]:
    """The sentences of every passage, in order."""
    out: list[Sentence] = []
    for index, passage in enumerate(passages):
        pairs = split_text(passage.text, passage.title, passage.section)
        for position, (heading, text) in enumerate(pairs):
            out.append(Sentence(text, heading, passage.doc_id, index, position))
    return out


def split_text(text: str, title: str = "", section: str = "") -> list[tuple[str, str]]:
    """``(heading, sentence)`` pairs of one passage, in reading order. A retrieved chunk has
    lost its headings: ``section`` ("Delivery > Express") gives back the nearest one."""
    pairs: list[tuple[str, str]] = []
    heading = _clean(section.split(SECTION_SEPARATOR)[-1]) if section.strip() else _clean(title)
    for kind, block in _blocks(rows_as_sentences(strip_front_matter(text))):
        if kind == "heading":
            heading = block
        elif kind in ("list", "item"):
            pairs.append((heading, block))
        else:
            pairs.extend((heading, s) for s in split_sentences(block))
    return pairs


def rows_as_sentences(text: str) -> str:
    """Markdown tables rewritten as one sentence per row, each its own paragraph:

    | Destination | Delivery time | Cost |          EU countries: Delivery time 4-7 business
    |---|---|---|                            ->    days, Cost €9.99.
    | EU countries | 4-7 business days | €9.99 |

    Pipes say nothing to a listener or an embedder, and a row is the unit a question asks for.
    """
    out: list[str] = []
    header: list[str] | None = None
    for line in text.split("\n"):
        if not _TABLE_ROW.match(line):
            header = None
            out.append(line)
            continue
        cells = [_clean(c) for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(_TABLE_RULE.match(c.replace(" ", "")) for c in cells):
            out.append(f"\n{_row_sentence(header, cells)}\n")
    return "\n".join(out)


def _row_sentence(header: list[str], cells: list[str]) -> str:
    named = [f"{h} {c}".strip() for h, c in zip(header[1:], cells[1:], strict=False) if c]
    text = f"{cells[0]}: {', '.join(named)}" if cells[0] and named else ", ".join(cells)
    return text if text.endswith((".", "。")) else text + "."


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph of running text (Latin and CJK punctuation)."""
    pieces: list[str] = []
    for chunk in _CJK_END.split(paragraph):
        pieces.extend(_split_latin(chunk))
    return [_cap(p) for p in (p.strip() for p in pieces) if p]


def _split_latin(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for match in _LATIN_END.finditer(text):
        candidate = text[start : match.start()]
        if _ABBREVIATION.search(candidate):
            continue  # "z. B. Ihre": not the end of a sentence
        out.append(candidate)
        start = match.end()
    out.append(text[start:])
    return out


def _blocks(text: str) -> Iterable[tuple[str, str]]:
    """Headings, lists (all items joined, then each item of a longer list) and paragraphs of a
    Markdown text."""
    paragraph: list[str] = []
    items: list[str] = []

    def flush() -> Iterable[tuple[str, str]]:
        if paragraph:
            yield "paragraph", _clean(" ".join(paragraph))
            paragraph.clear()
        if items:
            yield "list", _join_items(items)
            if len(items) > 1:
                yield from (("item", _cap(item.rstrip(" ,;，；"))) for item in items)
            items.clear()

    for line in text.split("\n"):
        heading, item = _HEADING.match(line), _LIST_ITEM.match(line)
        if heading:
            yield from flush()
            yield "heading", _clean(heading.group(1))
        elif item:
            if paragraph:
                yield from flush()
            items.append(_clean(item.group(1)))
        elif not line.strip():
            yield from flush()
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + _clean(line)  # a wrapped list item
        else:
            if items:
                yield from flush()
            paragraph.append(line.strip())
    yield from flush()


def _join_items(items: list[str]) -> str:
    joined = ""
    for item in items:
        if joined:
            joined += " " if joined[-1] in ".;:,。；，" else ", "
        joined += item
    return _cap(joined)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", _INLINE_MARKUP.sub(lambda m: m.group(1) or "", text)).strip()


def _cap(text: str) -> str:
    return text if len(text) <= MAX_SENTENCE_CHARS else text[:MAX_SENTENCE_CHARS].rstrip() + "…"
