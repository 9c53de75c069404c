"""eval.all: scoring one spoken clip of the cascade (speech -> intent -> reply)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from eval.all import score_spoken_turn


def classify(text: str) -> str:
    return "return_item" if "return" in text.lower() else "out_of_scope"


def test_a_clip_heard_right_agrees_and_is_answered_in_its_language():
    stats: dict[str, list[float]] = defaultdict(list)
    reply = SimpleNamespace(language="en", grounded=True)
    score_spoken_turn(stats, "How do I return it?", "how do i return it", "en", classify,
                      lambda text: reply)  # fmt: skip
    assert stats == {"heard_nothing": [0.0], "intent_agrees": [1.0],
                     "reply_language_match": [1.0], "grounded": [1.0]}  # fmt: skip


def test_a_clip_heard_as_nothing_is_a_miss_without_a_turn():
    stats: dict[str, list[float]] = defaultdict(list)

    def respond(text: str):
        raise AssertionError("an empty transcript must not reach the agent")

    score_spoken_turn(stats, "How do I return it?", "  ", "en", classify, respond)
    assert stats == {"heard_nothing": [1.0], "intent_agrees": [0.0]}
