"""The agent's turn logic with fake stages: slots, fallbacks, handoff, isolation, failures."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from agent.messages import AudioIn, Transcript, Turn
from agent.pipeline import Agent, Stages
from agent.policy import load_policy
from agent.session import SessionStore
from agent.store import ConversationStore
from tests.fakes import (
    FakeEntities,
    FakeIntents,
    FakeKnowledge,
    FakeOrders,
    FakeResponder,
    FakeRouter,
)


@pytest.fixture
def agent(tmp_path):
    stages = Stages(
        FakeRouter(),
        FakeIntents(),
        FakeEntities(),
        FakeKnowledge(),
        FakeResponder(),
        orders=FakeOrders(),
    )
    return Agent(stages, load_policy(), store=ConversationStore(tmp_path / "log.sqlite"))


@pytest.fixture
def sessions():
    return SessionStore()


def say(agent, session, text, **kw):
    return agent.respond(Turn(text=text, **kw), session)


def test_order_request_asks_for_the_number_then_answers(agent, sessions):
    s = sessions.get("a")
    first = say(agent, s, "Where is my order?")
    assert first.trace.action == "ask_slot" and "VT-" in first.reply.text
    second = say(agent, s, "it's vt 20481736")
    assert second.trace.action == "answer"
    assert "VT-20481736" in second.reply.text and "shipped" in second.reply.text
    assert "Track it in My Orders." in second.reply.text
    assert s.pending is None


def test_order_number_given_upfront_is_answered_at_once(agent, sessions):
    result = say(agent, sessions.get(), "Where is my order VT-99999999?")
    assert result.trace.action == "answer"
    assert "couldn't find order VT-99999999" in result.reply.text


def test_reply_follows_the_users_language(agent, sessions):
    s = sessions.get()
    assert say(agent, s, "hola").reply.text.startswith("¡Hola!")
    result = say(agent, s, "¿Dónde está mi pedido?")
    assert result.trace.action == "ask_slot" and "número de pedido" in result.reply.text


def test_out_of_scope_is_declined(agent, sessions):
    result = say(agent, sessions.get(), "what will the weather be")
    assert result.trace.action == "decline"


def test_two_failures_hand_over_with_a_ticket(agent, sessions):
    s = sessions.get()
    assert say(agent, s, "blorp").trace.action == "clarify"
    result = say(agent, s, "blorp again")
    assert result.trace.action == "handoff" and result.ticket and result.ticket in result.reply.text
    ticket = agent.store.ticket(result.ticket)
    assert ticket["transcript"][0]["user"] == "blorp"


def test_explicit_request_and_anger_hand_over(agent, sessions):
    assert say(agent, sessions.get(), "I want a human").trace.action == "handoff"
    assert (
        say(agent, sessions.get(), "this is the worst shop, I'm furious").trace.action == "handoff"
    )


def test_low_confidence_follow_up_continues_the_topic(agent, sessions):
    s = sessions.get()
    assert say(agent, s, "when does the store open?").trace.action == "answer"
    result = say(agent, s, "and can I park there?")
    assert result.trace.action == "answer"
    assert agent.stages.knowledge.queries[-1].startswith("when does the store open?")


def test_no_relevant_passage_says_so(agent, sessions):
    s = sessions.get()
    result = say(agent, s, "how do I return my payment card")  # "return" -> intent, doc found
    assert result.trace.action == "answer"
    result = say(agent, s, "track my order VT-20481736 please")
    assert "shipped" in result.reply.text


def test_empty_and_huge_text_get_polite_replies(agent, sessions):
    s = sessions.get()
    assert "didn't catch" in say(agent, s, "   ").reply.text
    huge = say(agent, s, "return " * 10_000)
    assert huge.trace.action == "answer"
    assert any("truncated" in n for n in huge.trace.notes)


def test_stage_failure_keeps_the_session(agent, sessions, monkeypatch):
    s = sessions.get()
    say(agent, s, "hola")

    def boom(text):
        raise RuntimeError("model crashed")

    monkeypatch.setattr(agent.stages.intents, "classify", boom)
    result = say(agent, s, "¿puedo devolver algo?")
    assert "algo ha fallado" in result.reply.text
    monkeypatch.undo()
    assert say(agent, s, "gracias").trace.action == "small_talk"


def test_voice_turn_uses_speech_language_and_no_speech_guard(agent, sessions):
    class FakeTranscriber:
        def __init__(self, transcript):
            self.transcript = transcript

        def transcribe(self, audio, language=None):
            return self.transcript

    audio = AudioIn(np.zeros(16000, dtype=np.float32))
    agent.stages.transcriber = FakeTranscriber(Transcript("quiero devolver esto", "es", 0.97))
    result = agent.respond(Turn(audio=audio), sessions.get())
    assert result.trace.language.source == "speech" and result.trace.language.code == "es"
    assert result.trace.transcript.text == "quiero devolver esto"
    agent.stages.transcriber = FakeTranscriber(Transcript("", "en", 0.5, no_speech=True))
    silent = agent.respond(Turn(audio=audio), sessions.get())
    assert silent.trace.action == "clarify" and "didn't catch" in silent.reply.text


def test_sessions_do_not_leak_under_concurrency(agent, sessions):
    errors = []

    def converse(i):
        s = sessions.get(f"s{i}")
        try:
            for _ in range(5):
                say(agent, s, "Where is my order?")
                say(agent, s, f"VT-{i:08d}")
                assert s.entities["order_number"] == f"VT-{i:08d}"
        except AssertionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=converse, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert agent.store.count() == 12 * 10


def test_trace_has_latency_per_stage(agent, sessions):
    result = say(agent, sessions.get(), "can I return headphones?")
    assert {"language", "intent", "entities", "retrieval", "responder", "total"} <= set(
        result.trace.latency_ms
    )
    assert result.trace.passages and result.reply.cited_ids == ("en/returns-policy.md",)


def test_passages_retrieval_calls_irrelevant_never_reach_the_responder(tmp_path, sessions):
    class LooseKnowledge(FakeKnowledge):
        """Finds the returns article for anything, but knows it is not relevant."""

        def search(self, query, language, k):
            from tests.fakes import FakeResult

            return FakeResult((self.DOCS["returns"],), relevant=False)

    stages = Stages(FakeRouter(), FakeIntents(), FakeEntities(), LooseKnowledge(), FakeResponder())
    agent = Agent(stages, load_policy(), store=ConversationStore(tmp_path / "log.sqlite"))
    result = say(agent, sessions.get(), "how do I return my payment card")
    assert result.trace.action == "answer"
    assert result.reply.text == "NO ANSWER"
