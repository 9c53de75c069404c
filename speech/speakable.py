"""Text made speakable, and cut into pieces a voice can start on quickly.

Synthesisers read digits as one big number ("VT-20481736": "twenty million ..."), decimal points
the English way in every language, and Markdown or emoji literally. ``speakable(text, lang)``
rewrites what a customer-service reply typically holds (order and repair numbers, phone numbers,
prices, e-mail addresses, ranges, menu paths) into words a listener understands, per language.
``pieces()`` splits the result into sentences, cutting the first one at a clause so the first
audio is ready long before the whole reply is synthesised.
"""

from __future__ import annotations

import logging
import re
import unicodedata

logger = logging.getLogger(__name__)

COMMA_DECIMAL = {"de", "fr", "es", "pt"}  # languages that write 4,99 where English writes 4.99
WORDS: dict[str, dict[str, str]] = {  # the few words the rewrites need, per language
    "en": {
        "at": "at",
        "dot": "dot",
        "plus": "plus",
        "to": "to",
        "and": "and",
        "cents": "",
        "euro": "euros",
        "dollar": "dollars",
        "pound": "pounds",
        "percent": "percent",
    },
    "de": {
        "at": "ät",
        "dot": "punkt",
        "plus": "plus",
        "to": "bis",
        "and": "und",
        "cents": "",
        "euro": "Euro",
        "dollar": "Dollar",
        "pound": "Pfund",
        "percent": "Prozent",
    },
    "fr": {
        "at": "arobase",
        "dot": "point",
        "plus": "plus",
        "to": "à",
        "and": "et",
        "cents": "",
        "euro": "euros",
        "dollar": "dollars",
        "pound": "livres",
        "percent": "pour cent",
    },
    "es": {
        "at": "arroba",
        "dot": "punto",
        "plus": "más",
        "to": "a",
        "and": "y",
        "cents": "con",
        "euro": "euros",
        "dollar": "dólares",
        "pound": "libras",
        "percent": "por ciento",
    },
    "pt": {
        "at": "arroba",
        "dot": "ponto",
        "plus": "mais",
        "to": "a",
        "and": "e",
        "cents": "e",
        "euro": "euros",
        "dollar": "dólares",
        "pound": "libras",
        "percent": "por cento",
    },
    "zh": {
        "at": "艾特",
        "dot": "点",
        "plus": "加",
        "to": "到",
        "and": "和",
        "cents": "",
        "euro": "欧元",
        "dollar": "美元",
        "pound": "英镑",
        "percent": "%",
    },
}
CURRENCIES = {
    "EUR": "euro",
    "€": "euro",
    "USD": "dollar",
    "$": "dollar",
    "GBP": "pound",
    "£": "pound",
}

_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2,3})-(\d{4,12})(?![0-9])")  # VT-20481736, RP-418207
_PHONE = re.compile(  # +33 4 72 10 20 30, 04 72 10 20 30
    r"(?<![A-Za-z0-9.+])(?:\+\d{1,3}(?:[ .-]\d{1,4}){2,7}|\d{2,4}(?:[ .-]\d{2,4}){3,6})(?![\d])"
)
_LONG_NUMBER = re.compile(r"(?<![\d.,])\d{7,}(?![\d.,])")  # a bare id, not an amount
_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b")
_URL = re.compile(r"https?://(\S+?)(?=[\s)]|[.,;:!?](?:\s|$)|$)")
_AMOUNT = r"\d{1,3}(?:[ ,.]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_PRICE_AFTER = re.compile(rf"({_AMOUNT})\s?(EUR|USD|GBP|€|\$|£)(?![A-Za-z])")
_PRICE_BEFORE = re.compile(rf"(EUR|USD|GBP|€|\$|£)\s?({_AMOUNT})")
_RANGE = re.compile(r"(?<=\d)\s?[-–]\s?(?=\d)")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d{1,2}\b)")
_MENU = re.compile(r"\s+>\s+")
_MARKDOWN = re.compile(r"\[([^\]]+)\]\([^)]+\)|[*_`#]+")


def strip_symbols(text: str) -> str:
    """Drop emoji, pictographs and Markdown marks; keep letters, digits and punctuation."""
    text = _MARKDOWN.sub(lambda m: m.group(1) or " ", text)
    kept = [
        c
        for c in text
        if not (unicodedata.category(c) in ("So", "Cs", "Co", "Cn") or c in "\u200d\ufe0f")
    ]
    return " ".join("".join(kept).split())


def spell_digits(digits: str, group: int = 4) -> str:
    """'20481736' -> '2 0 4 8, 1 7 3 6': one digit at a time, a pause every ``group``."""
    groups = [digits[i : i + group] for i in range(0, len(digits), group)]
    return ", ".join(" ".join(g) for g in groups)


def _amount(raw: str, currency: str, lang: str) -> str:
    w = WORDS.get(lang, WORDS["en"])
    name = w[CURRENCIES[currency]]
    digits = raw.replace(" ", "")
    whole, cents = digits, ""
    if re.search(r"[.,]\d{1,2}$", digits):
        whole, cents = digits[:-3] if digits[-3] in ".," else digits[:-2], digits[-2:].lstrip(".,")
    whole = re.sub(r"[.,]", "", whole)
    if lang == "zh":
        return f"{whole}点{cents}{name}" if cents and cents != "00" else f"{whole}{name}"
    if not cents or cents == "00":
        return f"{whole} {name}"
    joiner = f" {w['cents']}" if w["cents"] else ""
    return f"{whole} {name}{joiner} {int(cents) if len(cents) == 2 else cents}"


def speakable(text: str, lang: str) -> str:
    """Rewrite ``text`` so a synthesiser reads it as a person would, in language ``lang``."""
    w = WORDS.get(lang, WORDS["en"])
    text = strip_symbols(text)
    text = _EMAIL.sub(lambda m: _address(m.group(1), m.group(2), w), text)
    text = _URL.sub(lambda m: _address("", m.group(1).rstrip("/"), w), text)
    text = _CODE.sub(lambda m: f"{' '.join(m.group(1))}, {spell_digits(m.group(2))}", text)
    text = _PRICE_AFTER.sub(lambda m: _amount(m.group(1), m.group(2), lang), text)
    text = _PRICE_BEFORE.sub(lambda m: _amount(m.group(2), m.group(1), lang), text)
    text = _PHONE.sub(lambda m: _phone(m.group(0), w), text)
    text = _LONG_NUMBER.sub(lambda m: spell_digits(m.group(0)), text)
    text = _RANGE.sub(f" {w['to']} " if lang != "zh" else w["to"], text)
    if lang in COMMA_DECIMAL:
        text = _DECIMAL.sub(",", text)
    text = _MENU.sub(", ", text).replace(" & ", f" {w['and']} ")
    return re.sub(r"\s+([,.!?;:。，！？])", r"\1", " ".join(text.split()))


def _address(user: str, host: str, w: dict[str, str]) -> str:
    spoken_host = f" {w['dot']} ".join(host.replace("/", " ").split("."))
    return f"{user} {w['at']} {spoken_host}" if user else spoken_host


def _phone(raw: str, w: dict[str, str]) -> str:
    groups = re.split(r"[ .-]", raw.lstrip("+"))
    spoken = ", ".join(" ".join(g) for g in groups)
    return f"{w['plus']} {spoken}" if raw.startswith("+") else spoken


# --- cutting a reply into pieces ----------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[\"'«„“¿¡(]?[A-ZÀ-ÖØ-Þ0-9\u3000-\u9fff])|(?<=[。！？；])")
_CLAUSE = re.compile(r"(?<=[,;:，、；：])\s*")


def sentences(text: str) -> list[str]:
    """Sentences of ``text`` (a full stop inside 4.99 or e.g. does not end one)."""
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def _cut(sentence: str, limit: int) -> list[str]:
    """A sentence cut at clause boundaries (then at spaces) into parts of at most ``limit``."""
    if len(sentence) <= limit:
        return [sentence]
    parts: list[str] = []
    current = ""
    for clause in filter(None, _CLAUSE.split(sentence)):
        if current and len(current) + len(clause) + 1 > limit:
            parts.append(current)
            current = ""
        glue = " " if current and not _cjk(clause) else ""
        current = current + glue + clause
    if current:
        parts.append(current)
    return [p for part in parts for p in _hard_cut(part, limit)]


def _cjk(text: str) -> bool:
    return bool(text) and "\u3000" <= text[0] <= "\u9fff"


def _hard_cut(text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    words = text.split(" ")
    if len(words) == 1:  # no spaces (Chinese): cut by characters
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    out, current = [], ""
    for word in words:
        if current and len(current) + len(word) + 1 > limit:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return out + ([current] if current else [])


def pieces(text: str, first_chars: int, chunk_chars: int) -> list[str]:
    """Speakable text cut into synthesis pieces: a short first one, then whole sentences."""
    out: list[str] = []
    for sentence in sentences(text):
        limit = first_chars if not out else chunk_chars
        parts = _cut(sentence, limit)
        out.append(parts[0])
        rest = " ".join(parts[1:]) if not _cjk(sentence) else "".join(parts[1:])
        if rest:
            out.extend(_cut(rest, chunk_chars))
    return [p for p in out if any(c.isalnum() for c in p)]


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """``text`` cut at the last sentence boundary before ``max_chars``; True when it was cut."""
    if len(text) <= max_chars:
        return text, False
    kept = ""
    for sentence in sentences(text):
        candidate = f"{kept} {sentence}".strip() if not _cjk(sentence) else kept + sentence
        if len(candidate) > max_chars:
            break
        kept = candidate
    return (kept or _hard_cut(text, max_chars)[0]), True
