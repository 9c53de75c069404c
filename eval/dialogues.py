"""The demo dialogues through the whole agent: does each turn get the expected intent and action?

A turn counts as right when the action matches and the intent it was handled as matches (a turn
expected to be clarified has no intent). Language switches, slot filling, follow-ups and
handoffs are all exercised, each dialogue in a fresh session.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.datasets import demo_dialogues
from agent.messages import Turn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnOutcome:
    dialogue: str
    user: str
    lang: str
    expected_intent: str | None
    expected_action: str
    intent: str | None
    action: str
    reply: str
    reply_language: str

    @property
    def ok(self) -> bool:
        return self.action == self.expected_action and self.intent_ok

    @property
    def intent_ok(self) -> bool:
        if self.expected_action in ("clarify", "handoff") and self.expected_intent is None:
            return True
        return self.intent == self.expected_intent


def run_dialogues(
    loaded: Any,
    dialogues: list[dict] | None = None,
    latencies: dict[str, list[float]] | None = None,
) -> list[TurnOutcome]:
    """Play every dialogue in its own session of ``loaded`` (a ``LoadedAgent``).

    ``latencies``, when given, collects each turn's milliseconds per stage.
    """
    outcomes = []
    for d in dialogues or demo_dialogues():
        session = loaded.sessions.get(f"eval-{d['id']}")
        for turn in d["turns"]:
            result = loaded.agent.respond(Turn(text=turn["user"]), session)
            for stage, ms in result.trace.latency_ms.items():
                if latencies is not None:
                    latencies.setdefault(stage, []).append(ms)
            outcomes.append(
                TurnOutcome(
                    d["id"],
                    turn["user"],
                    turn["lang"],
                    turn["intent"],
                    turn["action"],
                    result.trace.handled_as,
                    result.trace.action,
                    result.reply.text,
                    result.reply.language,
                )
            )
    return outcomes


def summarise(outcomes: list[TurnOutcome]) -> dict[str, Any]:
    n = len(outcomes)
    by_lang: dict[str, list[TurnOutcome]] = {}
    for o in outcomes:
        by_lang.setdefault(o.lang, []).append(o)
    confusions = Counter(
        (o.expected_action, o.action) for o in outcomes if o.action != o.expected_action
    )
    return {
        "n": n,
        "turn_accuracy": round(sum(o.ok for o in outcomes) / n, 4),
        "action_accuracy": round(sum(o.action == o.expected_action for o in outcomes) / n, 4),
        "intent_accuracy": round(sum(o.intent_ok for o in outcomes) / n, 4),
        "language_match": round(sum(o.reply_language == o.lang for o in outcomes) / n, 4),
        "per_language": {
            lang: round(sum(o.ok for o in items) / len(items), 4)
            for lang, items in sorted(by_lang.items())
        },
        "action_confusions": {f"{a}->{b}": c for (a, b), c in confusions.most_common()},
        "errors": [
            {
                "dialogue": o.dialogue,
                "user": o.user,
                "expected": [o.expected_intent, o.expected_action],
                "got": [o.intent, o.action],
            }
            for o in outcomes
            if not o.ok
        ],
    }


def cmd_eval_dialogues(args: Any) -> dict[str, Any]:
    from agent.config import load_config
    from agent.loading import load_agent

    with tempfile.TemporaryDirectory(prefix="parla-dialogues-") as work:  # the real log stays clean
        loaded = load_agent(
            load_config(getattr(args, "config", None)), store_path=Path(work) / "log.sqlite"
        )
        return summarise(run_dialogues(loaded))
