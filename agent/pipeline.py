"""One turn, from words (or speech) to a reply (and speech): the ``Agent``.

    audio --transcribe--> text --route--> language --classify/extract--> intent, entities
          --search--> passages --policy--> action --generate--> reply --synthesize--> audio

Models are loaded once (``Stages``) and shared by every session; each turn runs under its own
session's lock, so sessions never see each other's state. Every stage is timed into the turn's
``Trace``. A stage that fails gives the user a polite reply in their language, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from agent.config import AgentConfig
from agent.messages import (
    AudioIn,
    Entity,
    Intent,
    LanguageDecision,
    Passage,
    Reply,
    SpeechOut,
    Trace,
    Transcript,
    Turn,
    TurnResult,
)
from agent.orders import OrderLookup
from agent.policy import Decision, Evidence, Policy, decide
from agent.session import HistoryItem, Pending, Session
from agent.store import ConversationStore

logger = logging.getLogger(__name__)

ORDER_INTENTS = ("track_order", "cancel_order", "missing_package")


class Transcriber(Protocol):
    def transcribe(self, audio: AudioIn, language: str | None = None) -> Transcript: ...


class LanguageRouter(Protocol):
    def route(
        self,
        text: str,
        session_language: str | None,
        speech_language: tuple[str, float] | None = None,
        user_choice: str | None = None,
    ) -> LanguageDecision: ...


class IntentClassifier(Protocol):
    def classify(self, text: str) -> Intent: ...


class EntityExtractor(Protocol):
    def extract(self, text: str, language: str) -> tuple[Entity, ...]: ...


class KnowledgeBase(Protocol):
    def search(self, query: str, language: str | None, k: int) -> Any: ...


class Responder(Protocol):
    def generate(
        self,
        question: str,
        language: str,
        intent: str | None,
        passages: Sequence[Passage],
        history: Sequence[str] = (),
    ) -> Reply: ...


class Synthesizer(Protocol):
    def synthesize(self, text: str, language: str) -> SpeechOut: ...


@dataclass
class Stages:
    """The loaded models, shared by all sessions."""

    router: LanguageRouter
    intents: IntentClassifier
    entities: EntityExtractor
    knowledge: KnowledgeBase
    responder: Responder
    transcriber: Transcriber | None = None
    synthesizer: Synthesizer | None = None
    orders: OrderLookup | None = None


@dataclass
class _TurnState:
    """Scratch space of one turn while it moves through the stages."""

    text: str = ""
    transcript: Transcript | None = None
    language: LanguageDecision | None = None
    intent: Intent = field(default_factory=lambda: Intent("", 0.0))
    entities: tuple[Entity, ...] = ()
    passages: tuple[Passage, ...] = ()
    kb_relevant: bool = False
    latency: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.latency[stage] = round((time.perf_counter() - start) * 1000, 2)


class Agent:
    def __init__(
        self,
        stages: Stages,
        policy: Policy,
        config: AgentConfig | None = None,
        store: ConversationStore | None = None,
        top_k: int = 5,
        default_language: str = "en",
    ) -> None:
        self.stages, self.policy, self.store = stages, policy, store
        self.config = config or AgentConfig()
        self.top_k, self.default_language = top_k, default_language

    async def respond_async(self, turn: Turn, session: Session) -> TurnResult:
        """``respond`` off the event loop: inference never blocks other sessions' I/O."""
        return await asyncio.to_thread(self.respond, turn, session)

    def respond(self, turn: Turn, session: Session) -> TurnResult:
        with session.lock:
            state = _TurnState()
            try:
                result = self._respond(turn, session, state)
            except Exception:  # noqa: BLE001 - the user gets a polite reply, the log the details
                logger.exception("turn failed in session %s", session.id)
                result = self._failure_result(session, state)
            session.last_active = time.monotonic()
        if self.store is not None:
            self.store.log_turn(session.id, state.text, result.reply.text, result.trace)
        return result

    def _respond(self, turn: Turn, session: Session, state: _TurnState) -> TurnResult:
        start = time.perf_counter()
        self._read_input(turn, state)
        state.language = self._route(turn, session, state)
        session.language = state.language.code
        if not state.text:
            reply = Reply(self.policy.say(state.language.code, "empty"), state.language.code)
            return self._finish(
                turn, session, state, Decision("clarify", None, reason="empty"), reply, start
            )
        with state.timed("intent"):
            state.intent = self.stages.intents.classify(state.text)
        with state.timed("entities"):
            state.entities = self.stages.entities.extract(state.text, state.language.code)
        self._search(state.text, state)
        evidence = Evidence(
            state.text,
            state.intent,
            state.entities,
            state.passages[0].score if state.passages else 0.0,
            state.kb_relevant,
        )
        decision = decide(self.policy, evidence, session)
        reply, decision = self._act(decision, session, state)
        return self._finish(turn, session, state, decision, reply, start)

    def _read_input(self, turn: Turn, state: _TurnState) -> None:
        if turn.audio is not None and self.stages.transcriber is not None:
            with state.timed("asr"):
                state.transcript = self.stages.transcriber.transcribe(turn.audio, turn.language)
            state.text = "" if state.transcript.no_speech else state.transcript.text.strip()
            if state.transcript.no_speech:
                state.notes.append("no speech in the recording")
            return
        text = (turn.text or "").strip()
        if len(text) > self.config.max_text_chars:
            state.notes.append(
                f"input truncated from {len(text)} to {self.config.max_text_chars} chars"
            )
            text = text[: self.config.max_text_chars]
        state.text = text

    def _route(self, turn: Turn, session: Session, state: _TurnState) -> LanguageDecision:
        speech = None
        if state.transcript is not None and not state.transcript.no_speech:
            speech = (state.transcript.language, state.transcript.language_probability)
        with state.timed("language"):
            return self.stages.router.route(state.text, session.language, speech, turn.language)

    def _search(self, query: str, state: _TurnState) -> None:
        assert state.language is not None
        with state.timed("retrieval"):
            result = self.stages.knowledge.search(query, state.language.code, self.top_k)
        state.passages, state.kb_relevant = tuple(result.passages), bool(result.relevant)

    def _act(self, d: Decision, session: Session, state: _TurnState) -> tuple[Reply, Decision]:
        lang = state.language.code if state.language else self.default_language
        session.entities.update({e.type: e.value for e in state.entities})
        if d.action == "answer":
            return self._answer(d, session, state, lang)
        if d.action == "ask_slot":
            session.pending = Pending(d.intent or "", d.slot or "", d.question or state.text)
            return Reply(self.policy.say(lang, f"ask_{d.slot}"), lang), d
        if d.action == "handoff":
            return self._handoff(d, session, lang), d
        if d.action == "small_talk":
            return Reply(self.policy.say(lang, d.intent or "greeting"), lang), d
        if d.action == "decline":
            return Reply(self.policy.say(lang, "decline"), lang), d
        return Reply(self._clarify_text(state, lang), lang), d

    def _answer(
        self, d: Decision, session: Session, state: _TurnState, lang: str
    ) -> tuple[Reply, Decision]:
        question = d.question or state.text
        if d.reason.startswith("follow-up") and session.history:
            question = f"{session.history[-1].user} {state.text}"
        if question != state.text:
            self._search(question, state)
        session.pending = None
        status = self._order_status(d.intent, session, lang)
        if status and not state.kb_relevant:  # the order's status is the answer
            return Reply(status, lang), d
        history = [h.user for h in session.history]
        passages = state.passages if state.kb_relevant else ()  # never answer from unrelated text
        with state.timed("responder"):
            reply = self.stages.responder.generate(question, lang, d.intent, passages, history)
        if status:
            reply = replace(reply, text=f"{status} {reply.text}".strip())
        return reply, d

    def _order_status(self, intent: str | None, session: Session, lang: str) -> str:
        number = session.entities.get("order_number")
        if intent not in ORDER_INTENTS or not number or self.stages.orders is None:
            return ""
        order = self.stages.orders.find(number)
        if order is None:
            return self.policy.say(lang, "order_not_found", order=number)
        text = self.policy.say(
            lang,
            "order_status",
            order=order.number,
            status=self.policy.status_name(lang, order.status),
        )
        if order.eta:
            text += " " + self.policy.say(lang, "order_eta", eta=order.eta)
        return text

    def _handoff(self, d: Decision, session: Session, lang: str) -> Reply:
        transcript = [
            {"user": h.user, "reply": h.reply, "intent": h.intent} for h in session.history
        ]
        ticket = "TK-LOCAL"
        if self.store is not None:
            ticket = self.store.open_ticket(
                session.id, lang, d.reason, transcript + [{"entities": dict(session.entities)}]
            )
        session.handed_off = ticket
        return Reply(self.policy.say(lang, "handoff", ticket=ticket), lang)

    def _clarify_text(self, state: _TurnState, lang: str) -> str:
        titles = list(dict.fromkeys(p.title for p in state.passages))[:2]
        if len(titles) == 2 and state.kb_relevant:
            return self.policy.say(lang, "clarify", a=f"«{titles[0]}»", b=f"«{titles[1]}»")
        return self.policy.say(lang, "clarify_vague")

    def _finish(
        self,
        turn: Turn,
        session: Session,
        state: _TurnState,
        d: Decision,
        reply: Reply,
        start: float,
    ) -> TurnResult:
        self._count_failures(d, reply, session)
        speech = self._speak(turn, reply, state)
        state.latency["total"] = round((time.perf_counter() - start) * 1000, 2)
        language = state.language or LanguageDecision(self.default_language, 0.0, "default")
        trace = Trace(
            language,
            state.intent,
            d.action,
            state.entities,
            state.passages,
            reply.path,
            state.transcript,
            dict(state.latency),
            tuple(state.notes) + ((d.reason,) if d.reason else ()),
            d.intent,
        )
        if state.text:
            session.history.append(HistoryItem(state.text, reply.text, d.intent or "", d.action))
        ticket = session.handed_off if d.action == "handoff" else None
        return TurnResult(reply, trace, speech, ticket)

    def _count_failures(self, d: Decision, reply: Reply, session: Session) -> None:
        failed = d.action == "clarify" or (d.action == "answer" and reply.path == "no_answer")
        if failed:
            session.failures += 1
        elif d.action in ("answer", "handoff"):
            session.failures = 0

    def _speak(self, turn: Turn, reply: Reply, state: _TurnState) -> SpeechOut | None:
        if not turn.speak or self.stages.synthesizer is None or not reply.text:
            return None
        with state.timed("tts"):
            return self.stages.synthesizer.synthesize(reply.text, reply.language)

    def _failure_result(self, session: Session, state: _TurnState) -> TurnResult:
        lang = (
            state.language.code if state.language else (session.language or self.default_language)
        )
        reply = Reply(self.policy.say(lang, "failure"), lang)
        language = state.language or LanguageDecision(lang, 0.0, "session")
        trace = Trace(
            language,
            state.intent,
            "clarify",
            state.entities,
            state.passages,
            "template",
            state.transcript,
            dict(state.latency),
            tuple(state.notes) + ("a stage failed; see the server log",),
        )
        return TurnResult(reply, trace)
