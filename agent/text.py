"""Language-aware word splitting, numbers and ROUGE-L, shared by the responder and its metrics.

Chinese and Japanese are written without spaces, so their "words" are single Han/kana
characters (the usual convention for character-level ROUGE on Chinese); Latin-script words,
numbers and codes inside Chinese text still count as whole words.
"""

from __future__ import annotations

import re
import unicodedata

# One token: a run of CJK characters is split into single characters; anything else is a run of
# letters/digits with inner apostrophes, hyphens, dots or commas between digits (4.99, 4,99).
_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
    r"|\d+(?:[.,:]\d+)*"
    r"|[^\W\d_]+(?:['’-][^\W\d_]+)*",
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalise(text: str) -> str:
    """NFKC (full-width digits become ASCII) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def words(text: str) -> list[str]:
    """Lower-cased word tokens; CJK characters are tokens of their own; punctuation is dropped."""
    return _TOKEN.findall(normalise(text))


def numbers(text: str) -> list[str]:
    """Numbers in ``text``, written one way: ``4,99`` -> ``4.99``, ``3,000``/``3.000`` -> ``3000``.

    A separator followed by groups of exactly three digits is a thousands separator; any other
    comma is a decimal comma. Times keep their colon (``16:00``).
    """
    return [_canonical_number(raw) for raw in _NUMBER.findall(unicodedata.normalize("NFKC", text))]


def _canonical_number(raw: str) -> str:
    if ":" in raw:
        return raw
    parts = re.split(r"[.,]", raw)
    if len(parts) > 1 and all(len(p) == 3 for p in parts[1:]):
        return "".join(parts)
    return raw.replace(",", ".")


def cjk_share(text: str) -> float:
    """Share of CJK characters among the letters of ``text`` (0 for empty text)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _CJK.match(c)) / len(letters)


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row at a time)."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over :func:`words` (characters for Chinese)."""
    pred, ref = words(prediction), words(reference)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)
