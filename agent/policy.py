"""The dialogue policy: given what the stages found, what Parla does with a turn.

Rules, thresholds and the words Parla says when not answering from the knowledge base live in
a TOML file (``agent/policy.toml`` by default) so operators can change them without code.
``decide`` is a pure function of the turn's evidence and the session, easy to test and to read.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ParlaError
from agent.messages import Action, Entity, Intent
from agent.session import Session

logger = logging.getLogger(__name__)

DEFAULT_POLICY = Path(__file__).with_name("policy.toml")


@dataclass(frozen=True)
class Policy:
    needs: dict[str, tuple[str, ...]]
    """Intent -> entity types it needs before it can be answered."""
    handoff_intents: frozenset[str]
    small_talk_intents: frozenset[str]
    decline_intents: frozenset[str]
    clarify_intents: frozenset[str]
    """Intents too vague to act on ("it doesn't work"): Parla asks what the request is about."""
    clarify_below: float
    decline_above: float
    """Out-of-scope (or unclear) guesses less sure than this are treated as low confidence
    instead of being declined (or asked about)."""
    kb_answer_score: float
    failures_before_handoff: int
    follow_up_below: float
    follow_up_max_words: int
    templates: dict[str, dict[str, Any]]
    """Language -> template name -> text (``status`` is a nested table)."""
    negative_words: tuple[str, ...]

    @property
    def unserved_intents(self) -> frozenset[str]:
        """Labels that name no request Parla can serve: out of scope, or too vague."""
        return self.decline_intents | self.clarify_intents

    def say(self, language: str, name: str, **values: str) -> str:
        table = self.templates.get(language) or self.templates["en"]
        text = table.get(name) or self.templates["en"][name]
        return str(text).format(**values)

    def status_name(self, language: str, status: str) -> str:
        table = (self.templates.get(language) or self.templates["en"]).get("status", {})
        return str(table.get(status, status))

    def is_negative(self, text: str) -> bool:
        low = text.lower()
        return any(word in low for word in self.negative_words)


def load_policy(path: str | Path | None = None) -> Policy:
    path = Path(path) if path else DEFAULT_POLICY
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        t, actions = data["thresholds"], data["actions"]
        return Policy(
            needs={k: tuple(v.get("needs", ())) for k, v in data.get("intents", {}).items()},
            handoff_intents=frozenset(actions["handoff"]),
            small_talk_intents=frozenset(actions["small_talk"]),
            decline_intents=frozenset(actions["decline"]),
            clarify_intents=frozenset(actions.get("clarify", ())),
            clarify_below=float(t["clarify_below"]),
            decline_above=float(t.get("decline_above", t["clarify_below"])),
            kb_answer_score=float(t["kb_answer_score"]),
            failures_before_handoff=int(t["failures_before_handoff"]),
            follow_up_below=float(t["follow_up_below"]),
            follow_up_max_words=int(t["follow_up_max_words"]),
            templates=data["templates"],
            negative_words=tuple(data.get("sentiment", {}).get("negative", ())),
        )
    except FileNotFoundError:
        raise ParlaError(f"policy file not found: {path}") from None
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ParlaError(f"policy file {path} is invalid: {exc}") from None


@dataclass(frozen=True)
class Evidence:
    """What the stages found for one turn, as the policy sees it."""

    text: str
    intent: Intent
    entities: tuple[Entity, ...]
    kb_score: float
    """Best retrieval score for the turn's question (0 when nothing was retrieved)."""
    kb_relevant: bool
    """The knowledge base has a passage above its relevance threshold."""


@dataclass(frozen=True)
class Decision:
    action: Action
    intent: str | None
    """The intent the turn is served as (the pending one when a slot arrives), None if unknown."""
    slot: str | None = None
    """The entity asked for (``ask_slot``)."""
    question: str | None = None
    """What to answer: the turn's words, or the pending request's when a slot completed it."""
    reason: str = ""


def decide(policy: Policy, ev: Evidence, session: Session) -> Decision:
    """Choose the action for a turn. Order matters: each rule is tried in turn."""
    found = {e.type for e in ev.entities} | set(session.entities)
    label, confidence = ev.intent.label, ev.intent.confidence
    pending = session.pending
    if (
        pending
        and pending.slot in {e.type for e in ev.entities}
        and label not in policy.handoff_intents
    ):
        return Decision("answer", pending.intent, question=pending.question, reason="slot filled")
    if label in policy.handoff_intents:
        return Decision("handoff", label, reason=f"{label} asks for a person")
    if policy.is_negative(ev.text) and session.failures >= 1:
        return Decision("handoff", label, reason="negative sentiment after a failure")
    if label in policy.small_talk_intents and confidence >= policy.clarify_below:
        return Decision("small_talk", label, reason="small talk")
    if label in policy.clarify_intents and confidence >= policy.decline_above:
        return _failure(policy, session, Decision("clarify", None, reason=f"{label} request"))
    if confidence < policy.clarify_below or label in policy.unserved_intents:
        return _uncertain(policy, ev, session)
    missing = [slot for slot in policy.needs.get(label, ()) if slot not in found]
    if missing:
        return Decision(
            "ask_slot", label, slot=missing[0], question=ev.text, reason="missing entity"
        )
    if not ev.kb_relevant:
        return _failure(
            policy,
            session,
            Decision("answer", label, question=ev.text, reason="no relevant passage"),
        )
    return Decision("answer", label, question=ev.text, reason="intent and passage")


def _uncertain(policy: Policy, ev: Evidence, session: Session) -> Decision:
    """Low confidence or out of scope: the last topic, the knowledge base, or ask.

    Only a sure out-of-scope guess (``decline_above``) is declined; an unsure one, like an
    unsure "unclear" one, is treated like low confidence: a short turn after an answer
    continues that topic, a passage that scores ``kb_answer_score`` answers it, and otherwise
    Parla asks."""
    last = session.last_intent
    unserved = ev.intent.label in policy.unserved_intents
    sure_oos = ev.intent.label in policy.decline_intents and (
        ev.intent.confidence >= policy.decline_above
    )
    is_service = last is not None and last not in policy.small_talk_intents | policy.handoff_intents
    if (
        is_service
        and ev.kb_relevant
        and not sure_oos
        and _is_short(ev.text, policy)
        and (unserved or ev.intent.confidence < policy.follow_up_below)
    ):
        return Decision("answer", last, question=ev.text, reason=f"follow-up on {last}")
    if sure_oos:
        return Decision("decline", ev.intent.label, reason="out of scope")
    if ev.kb_score >= policy.kb_answer_score:
        label = ev.intent.label if not unserved else last
        return Decision("answer", label, question=ev.text, reason="knowledge base answers it")
    if session.failures + 1 >= policy.failures_before_handoff:
        return Decision("handoff", None, reason="repeated failure")
    return Decision("clarify", None, reason=f"confidence {ev.intent.confidence:.2f}")


def _is_short(text: str, policy: Policy) -> bool:
    """A follow-up is short: few words, or few characters in scripts without spaces."""
    words = len(text.split())
    return words <= policy.follow_up_max_words and len(text) <= 6 * policy.follow_up_max_words


def _failure(policy: Policy, session: Session, decision: Decision) -> Decision:
    if session.failures + 1 >= policy.failures_before_handoff:
        return Decision("handoff", decision.intent, reason="repeated failure")
    return decision
