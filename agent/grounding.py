"""The groundedness guard: does a reply say only what its passages say?

Three checks, from strict to lenient:

1. every number in the reply (prices, days, hours, percentages, codes) appears in the passages;
2. every named thing (PayPal, iCloud, an e-mail address, a mid-sentence capitalised word in
   languages that do not capitalise nouns) appears in the passages;
3. most content words (``min_support`` of them) appear in the passages or the question, or are
   common words of the language (words used across many articles: "you", "order", "can").
   Chinese is checked on character pairs instead of words.

A reply that fails is replaced by the selected sentences themselves (the extractive path), so
the guard, not the rewriter, is what guarantees that replies are grounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent.text import lcs_length, normalise, numbers, words

NOUN_CAPITALISING = frozenset({"de", "lb"})  # every noun starts with a capital letter
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_SPECIAL_TOKEN = re.compile(r"\S+@\S+|\w+(?:\.\w+)+/\S*|\b\w*[a-z]\w*[A-Z]\w*\b")
_CLAUSE_END = re.compile(r"[.!?¿¡:;…。！？：；\n]+")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


@dataclass(frozen=True)
class GroundingReport:
    grounded: bool
    support: float
    """Share of the reply's content words (or character pairs) found in the evidence."""
    unsupported: tuple[str, ...] = ()
    """Numbers, names and words that were not found (numbers and names first)."""


class GroundednessGuard:
    def __init__(
        self,
        common_words: Mapping[str, Iterable[str]] | None = None,
        min_support: float = 0.8,
        min_order: float = 0.5,
    ) -> None:
        self.common = {lang: frozenset(ws) for lang, ws in (common_words or {}).items()}
        self.min_support = min_support
        self.min_order = min_order

    def check(
        self,
        reply: str,
        evidence: Sequence[str],
        question: str = "",
        language: str = "",
        focus: Sequence[str] = (),
    ) -> GroundingReport:
        """``focus``: the sentences the reply was written from; when given, the reply's words
        must also follow their order (``min_order`` of them, as a longest common
        subsequence), which rejects word salad made of supported words."""
        source = " \n".join(evidence)
        missing = [n for n in numbers(reply) if n not in set(numbers(source))]
        known_names = normalise(source + " \n" + question)  # "my Samsung TV" may be echoed
        missing += [n for n in _names(reply, language) if normalise(n) not in known_names]
        if looks_broken(reply):
            missing.append("<malformed text>")
        support, unsupported = self._content_support(reply, source + " \n" + question, language)
        if focus and ordered_share(reply, focus) < self.min_order:
            missing.append("<word order not found in the passages>")
        grounded = not missing and support >= self.min_support
        return GroundingReport(grounded, support, tuple(missing) + unsupported)

    def _content_support(
        self, reply: str, source: str, language: str
    ) -> tuple[float, tuple[str, ...]]:
        common = self.common.get(language, frozenset())
        units = [u for u in _units(reply) if u not in common and not u[0].isdigit()]
        if not units:
            return 1.0, ()
        known = _Vocabulary(set(_units(source)) | common)
        missing = tuple(u for u in units if not known.supports(u))
        return 1 - len(missing) / len(units), missing


class _Vocabulary:
    """Words of the evidence, matched up to an inflection ("ships" ~ "ship", "delivered" ~
    "delivery"): a shared prefix of all but the last two letters of the shorter word, and at
    least four letters. Facts are caught by the number and name checks; this one is about
    topic."""

    def __init__(self, units: set[str]) -> None:
        self.units = units
        self.by_start: dict[str, list[str]] = {}
        for u in units:
            self.by_start.setdefault(u[:3], []).append(u)

    def supports(self, unit: str) -> bool:
        if unit in self.units:
            return True
        if len(unit) < 4 or _CJK_RUN.match(unit):
            return False
        for other in self.by_start.get(unit[:3], ()):
            shared = _shared_prefix(unit, other)
            if len(other) >= 4 and shared >= max(4, min(len(unit), len(other)) - 2):
                return True
        return False


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def ordered_share(reply: str, focus: Sequence[str]) -> float:
    """Share of the reply's words that follow the focus sentences' order (either order)."""
    tokens = words(reply)
    if not tokens:
        return 0.0
    orders = [focus, list(reversed(focus))] if len(focus) > 1 else [focus]
    best = max(lcs_length(tokens, words(" ".join(o))) for o in orders)
    return best / len(tokens)


def looks_broken(text: str) -> bool:
    """Degenerate output: mostly punctuation, or mostly one-letter fragments, or a loop."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return True
    if sum(1 for c in visible if c.isalnum()) < 0.75 * len(visible):
        return True
    tokens = text.split()
    # Numbers are not fragments: Chinese text puts spaces around them ("1 年、2 年或 3 年").
    latin = [t for t in tokens if not _CJK_RUN.search(t) and not t.strip(".,;:!?").isdigit()]
    if len(latin) >= 4 and sum(1 for t in latin if len(t.strip(".,;:!?")) == 1) > 0.4 * len(latin):
        return True
    return len(tokens) >= 8 and len(set(tokens)) < 0.5 * len(tokens)


def _units(text: str) -> list[str]:
    """Content units: Latin-script words of 3+ letters, and CJK character pairs."""
    out = [w for w in words(text) if len(w) >= 3 and not _CJK_RUN.fullmatch(w)]
    for run in _CJK_RUN.findall(normalise(text)):
        out += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
    return out


def _names(text: str, language: str) -> list[str]:
    """E-mail addresses, web addresses, camel-case brands, and (where nouns are not
    capitalised) capitalised words that do not start a sentence."""
    names = _SPECIAL_TOKEN.findall(text)
    if language in NOUN_CAPITALISING:
        return names
    for clause in _CLAUSE_END.split(text):
        tokens = _WORD.findall(clause)
        names += [t for t in tokens[1:] if t[:1].isupper()]
    return names


def common_words(texts_by_article: Mapping[str, Sequence[str]], min_articles: int = 3) -> list[str]:
    """Units used in at least ``min_articles`` articles: the language's ordinary words."""
    counts: dict[str, int] = {}
    for texts in texts_by_article.values():
        for unit in {u for t in texts for u in _units(t)}:
            counts[unit] = counts.get(unit, 0) + 1
    return sorted(u for u, c in counts.items() if c >= min_articles)
