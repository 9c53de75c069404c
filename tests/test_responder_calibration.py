"""When the rewriter is switched on (finetune.responder_calibration)."""

from __future__ import annotations

import math

from finetune.responder_calibration import Answered, choose_threshold


def test_the_most_rouge_threshold_is_kept_when_it_clearly_beats_the_extractive_replies():
    rows = [Answered(-0.1, 0.9, 0.5), Answered(-0.2, 0.8, 0.5), Answered(-2.0, 0.1, 0.5)]
    threshold, score = choose_threshold(rows, min_gain=0.005)
    assert threshold == -0.2  # the two sure rewrites, not the unsure one
    assert math.isclose(score, (0.9 + 0.8 + 0.5) / 3)


def test_a_gain_within_the_margin_switches_the_rewriter_off():
    rows = [Answered(-0.1, 0.51, 0.5)] + [Answered(None, 0.0, 0.5)] * 9  # +0.001 on average
    assert choose_threshold(rows, min_gain=0.005) == (math.inf, 0.5)
    assert choose_threshold(rows, min_gain=0.0)[0] == -0.1


def test_rejected_rewrites_are_never_used():
    rows = [Answered(None, 1.0, 0.2), Answered(None, 1.0, 0.2)]
    assert choose_threshold(rows, min_gain=0.0) == (math.inf, 0.2)
