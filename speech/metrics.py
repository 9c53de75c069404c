"""Word and character error rates with one text normaliser for every language.

The normaliser lowercases, applies NFKC, removes punctuation and symbols, and collapses spaces,
so "Hello, World!" and "hello world" match. Chinese has no spaces between words: its "words"
are characters, so its WER equals its CER, and it is compared in simplified characters (Whisper
writes 訂單 or 订单 for the same spoken word; OpenCC's t2s table maps one to the other).
Error rates are pooled (total edits / total reference length), not averaged per clip, as jiwer
computes them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

NO_SPACE_LANGUAGES = {"zh", "ja", "th"}  # scored by character for WER too


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    kept = [" " if unicodedata.category(c)[0] in "PS" else c for c in text]
    return " ".join("".join(kept).split())


@lru_cache(maxsize=1)
def _to_simplified() -> Callable[[str], str]:
    from opencc import OpenCC

    return OpenCC("t2s").convert


def _units(text: str, language: str, by_char: bool) -> str:
    """Text in the form jiwer scores: space-separated words, or characters for CER."""
    base = language.split("-")[0]
    if base == "zh":
        text = _to_simplified()(text)
    text = normalise(text)
    if by_char or base in NO_SPACE_LANGUAGES:
        return " ".join(text.replace(" ", ""))
    return text


def error_rates(
    references: list[str], hypotheses: list[str], languages: list[str]
) -> dict[str, float]:
    """``{"wer", "cer"}`` pooled over the pairs (0.0 for no reference words at all)."""
    import jiwer

    out: dict[str, float] = {}
    for key, by_char in (("wer", False), ("cer", True)):
        refs = [_units(r, lang, by_char) for r, lang in zip(references, languages, strict=True)]
        hyps = [_units(h, lang, by_char) for h, lang in zip(hypotheses, languages, strict=True)]
        pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
        if not pairs:
            out[key] = 0.0
            continue
        # jiwer refuses empty hypotheses; a lone space-free token that cannot match stands in.
        out[key] = float(jiwer.wer([r for r, _ in pairs], [h if h else "\u2205" for _, h in pairs]))
    return out
