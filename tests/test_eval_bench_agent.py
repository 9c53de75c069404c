"""eval.bench_agent: the concurrent-session soak counts turns, errors and cross-session leaks."""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace

from eval.bench_agent import bench_concurrency, percentiles


class FakeAgent:
    """Keeps the order number it hears in the session's entities."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.questions: list[str] = []

    def respond(self, turn, session):
        found = re.search(r"VT-\d{8}", turn.text)
        with self.lock:
            if found:
                session.entities["order_number"] = found.group()
            elif "order" not in turn.text:
                self.questions.append(turn.text)
            number = session.entities.get("order_number", "")
        return SimpleNamespace(reply=SimpleNamespace(text=f"Order {number} is on its way."))


class Sessions:
    def __init__(self) -> None:
        self.by_id: dict[str, SimpleNamespace] = {}

    def get(self, session_id: str) -> SimpleNamespace:
        return self.by_id.setdefault(session_id, SimpleNamespace(entities={}))


QUESTIONS = [("How much is express delivery?", "en"), ("¿Cuánto cuesta el envío?", "es")]


def test_separate_sessions_leak_nothing_and_ask_help_centre_questions():
    agent = FakeAgent()
    loaded = SimpleNamespace(agent=agent, sessions=Sessions())
    result = bench_concurrency(loaded, sessions=3, seconds=0.3, questions=QUESTIONS)
    assert result["turns"] > 0 and result["errors"] == 0 and result["leaks"] == 0
    assert set(agent.questions) == {q for q, _ in QUESTIONS}


def test_a_reply_naming_another_sessions_order_is_a_leak():
    class LeakyAgent(FakeAgent):
        def respond(self, turn, session):
            super().respond(turn, session)
            return SimpleNamespace(reply=SimpleNamespace(text="Order VT-90000000 is on its way."))

    loaded = SimpleNamespace(agent=LeakyAgent(), sessions=Sessions())
    result = bench_concurrency(loaded, sessions=2, seconds=0.2, questions=QUESTIONS)
    assert result["leaks"] > 0 and result["errors"] == 0  # session 1 was told session 0's order


def test_percentiles():
    assert percentiles([1.0, 2.0, 3.0]) == {"p50": 2.0, "p95": 2.9, "n": 3}
