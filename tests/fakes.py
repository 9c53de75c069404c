"""Small deterministic stand-ins for the model stages, for testing the agent's logic."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.messages import Entity, Intent, IntentScore, LanguageDecision, Passage, Reply

KEYWORDS = {
    "track_order": ("where is my order", "track", "dónde está mi pedido"),
    "return_item": ("return", "devolver"),
    "store_info": ("store", "open", "tienda"),
    "greeting": ("hello", "hola"),
    "thanks": ("thanks", "gracias"),
    "request_human": ("human", "person", "persona"),
    "complaint": ("worst", "furious"),
    "out_of_scope": ("weather", "pizza"),
}


class FakeRouter:
    def route(self, text, session_language, speech_language=None, user_choice=None):
        if user_choice:
            return LanguageDecision(user_choice, 1.0, "user")
        if speech_language:
            return LanguageDecision(speech_language[0], speech_language[1], "speech")
        if re.search(r"[¿¡ñ]|hola|gracias|devolver|tienda|persona|pedido", text.lower()):
            return LanguageDecision("es", 0.99, "text")
        return LanguageDecision(session_language or "en", 0.9, "session")


class FakeIntents:
    def classify(self, text: str) -> Intent:
        low = text.lower()
        for label, words in KEYWORDS.items():
            if any(w in low for w in words):
                return Intent(label, 0.95, (IntentScore("return_item", 0.03),))
        return Intent(
            "out_of_scope", 0.2, (IntentScore("track_order", 0.15), IntentScore("return_item", 0.1))
        )


class FakeEntities:
    def extract(self, text: str, language: str) -> tuple[Entity, ...]:
        return tuple(
            Entity("order_number", m.group(0), "VT-" + m.group(1), m.start(), m.end())
            for m in re.finditer(r"vt[\s-]?(\d{8})", text, re.I)
        )


@dataclass(frozen=True)
class FakeResult:
    passages: tuple[Passage, ...]
    relevant: bool


class FakeKnowledge:
    """Answers about returns and stores; knows nothing else."""

    DOCS = {
        "returns": Passage(
            "en/returns-policy.md",
            "Return policy",
            "You can return items within 30 days.",
            "en",
            0.9,
        ),
        "stores": Passage(
            "en/store-hours.md", "Store opening hours", "Stores open 9:30-20:00.", "en", 0.88
        ),
        "tracking": Passage(
            "en/order-tracking.md", "Tracking your order", "Track it in My Orders.", "en", 0.87
        ),
    }

    def __init__(self):
        self.queries: list[str] = []

    def search(self, query, language, k):
        self.queries.append(query)
        low = query.lower()
        hits = [
            p
            for key, p in self.DOCS.items()
            if key[:4] in low
            or (key == "returns" and "devol" in low)
            or (key == "tracking" and ("order" in low or "pedido" in low))
            or (key == "stores" and ("park" in low or "open" in low))
        ]
        return FakeResult(tuple(hits[:k]), bool(hits))


class FakeResponder:
    def generate(self, question, language, intent, passages, history=()):
        if not passages:
            return Reply("NO ANSWER", language, (), True, "no_answer")
        return Reply(passages[0].text, language, (passages[0].doc_id,), True, "extractive")


class FakeOrders:
    def find(self, number):
        from agent.orders import Order

        return Order(number, "Shipped", "2026-12-02") if number == "VT-20481736" else None
