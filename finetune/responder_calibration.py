"""Choosing, on validation questions, when a rewrite is used instead of the selected sentences.

The rewriter reports how sure it is (mean log-probability per token). Each validation question
is answered both ways; the threshold kept is the one under which the combined replies (rewrite
when grounded and at least that sure, else extractive) score the best ROUGE-L, provided they
beat the extractive replies by ``MIN_GAIN``: every reply pays for a rewrite attempt once the
rewriter is on (about 60 ms on two cores), and a gain smaller than one or two validation
questions' worth is noise (the demo, 2026-11-30: +0.001 on validation, -0.0003 on test). By
construction the responder then does at least as well as its extractive baseline on
validation; how often it rewrites is reported, not assumed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from agent.answer_selection import AnswerSelector
from agent.config import ResponderConfig
from agent.grounding import GroundednessGuard
from agent.responder import choose, extractive_text
from agent.rewriter import Rewriter, RewriteRequest
from agent.text import rouge_l
from finetune.responder_data import SelectionExample

logger = logging.getLogger(__name__)

MIN_GAIN = 0.005  # validation ROUGE-L a rewriter must add over the selected sentences


@dataclass(frozen=True)
class Answered:
    confidence: float | None  # None: the guard rejected the rewrite
    rewrite_rouge: float
    extractive_rouge: float


def calibrate(
    selector: AnswerSelector,
    rewriter: Rewriter,
    guard: GroundednessGuard,
    valid: Sequence[SelectionExample],
    config: ResponderConfig | None = None,
    min_gain: float = MIN_GAIN,
) -> dict[str, Any]:
    """The confidence threshold and the validation scores it gives."""
    config = config or ResponderConfig()
    rows = [
        _answer(selector, rewriter, guard, ex, config)
        for ex in tqdm(valid, desc="calibrating", unit="question")
    ]
    extractive = _combined(rows, math.inf)
    best, best_score = choose_threshold(rows, min_gain)
    n = max(1, len(rows))
    used = sum(1 for r in rows if r.confidence is not None and r.confidence >= best)
    summary = {
        "rewriter_min_confidence": best if math.isfinite(best) else None,
        "valid_rouge_l": round(best_score, 4),
        "valid_rouge_l_extractive": round(extractive, 4),
        "valid_rouge_l_rewriter": round(sum(r.rewrite_rouge for r in rows) / n, 4),
        "valid_guard_accepts": round(sum(r.confidence is not None for r in rows) / n, 4),
        "valid_generated_share": round(used / n, 4),
    }
    logger.info("rewriter calibration on validation: %s", summary)
    return summary


def choose_threshold(rows: Sequence[Answered], min_gain: float) -> tuple[float, float]:
    """(threshold, validation ROUGE-L): ``inf`` (never rewrite) unless a threshold beats the
    extractive replies by ``min_gain``."""
    extractive = _combined(rows, math.inf)
    best, best_score = math.inf, extractive
    for threshold in sorted({r.confidence for r in rows if r.confidence is not None}):
        score = _combined(rows, threshold)
        if score > best_score + 1e-9:
            best, best_score = threshold, score
    if best_score < extractive + min_gain:  # not worth an attempt on every reply
        return math.inf, extractive
    return best, best_score


def _answer(selector, rewriter, guard, ex: SelectionExample, config) -> Answered:
    ranked = selector.rank(ex.question, ex.candidates)
    extractive = " ".join(extractive_text(s) for s in choose(ranked, config))
    sentences = tuple(s.sentence for s in ranked[: config.rewriter_sentences])
    request = RewriteRequest(ex.question, ex.language, ex.intent, sentences)
    rewrite = rewriter.rewrite(request)
    evidence = [" ".join(s.text for s in ex.candidates)]
    report = guard.check(
        rewrite.text, evidence, ex.question, ex.language, [s.text for s in sentences]
    )
    return Answered(
        rewrite.confidence if report.grounded and rewrite.text else None,
        rouge_l(rewrite.text, ex.answer),
        rouge_l(extractive, ex.answer),
    )


def _combined(rows: Sequence[Answered], threshold: float) -> float:
    total = sum(
        r.rewrite_rouge
        if r.confidence is not None and r.confidence >= threshold
        else r.extractive_rouge
        for r in rows
    )
    return total / max(1, len(rows))
