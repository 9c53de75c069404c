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
    """``shared=True`` hands every session the same state: the leak the benchmark must catch."""

    def __init__(self, shared: bool = False) -> None:
        self.shared = shared
        self.by_id: dict[str, SimpleNamespace] = {}

    def get(self, session_id: str) -> SimpleNamespace:
        key = "one" if self.shared else session_id
        return self.by_id.setdefault(key, SimpleNamespace(entities={}))


QUESTIONS = [("How much is express delivery?", "en"), ("¿Cuánto cuesta el envío?", "es")]


def test_separate_sessions_leak_nothing_and_ask_help_centre_questions():
    agent = FakeAgent()
    loaded = SimpleNamespace(agent=agent, sessions=Sessions())
    result = bench_concurrency(loaded, sessions=3, seconds=0.3, questions=QUESTIONS)
    assert result["turns"] > 0 and result["errors"] == 0 and result["leaks"] == 0
    assert set(agent.questions) == {q for q, _ in QUESTIONS}


def test_a_shared_memory_is_reported_as_leaks():
    loaded = SimpleNamespace(agent=FakeAgent(), sessions=Sessions(shared=True))
    assert bench_concurrency(loaded, sessions=4, seconds=0.3, questions=QUESTIONS)["leaks"] > 0


def test_percentiles():
    assert percentiles([1.0, 2.0, 3.0]) == {"p50": 2.0, "p95": 2.9, "n": 3}
