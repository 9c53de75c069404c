"""Per-conversation state, kept apart from the models, which all sessions share.

A ``Session`` is owned by one conversation (a browser tab, a CLI session id): its language,
recent history, the entities collected so far and a pending request waiting for a missing
entity. ``SessionStore`` hands them out by id, expires idle ones and caps their number.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryItem:
    user: str
    reply: str
    intent: str
    action: str


@dataclass(frozen=True)
class Pending:
    """A request that waits for an entity the user has not given yet."""

    intent: str
    slot: str
    question: str
    """The user's original words, answered once the slot arrives."""


@dataclass
class Session:
    """One conversation's state. Mutated only by the agent, under the session's lock."""

    id: str
    language: str | None = None
    history: deque[HistoryItem] = field(default_factory=lambda: deque(maxlen=8))
    entities: dict[str, str] = field(default_factory=dict)
    """Entity type -> normalised value, the latest of each type."""
    pending: Pending | None = None
    failures: int = 0
    """Consecutive turns Parla could not serve (clarify, no answer)."""
    handed_off: str | None = None
    """The ticket number once a person has taken over."""
    last_active: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def last_intent(self) -> str | None:
        return self.history[-1].intent if self.history else None


def session_to_dict(session: Session) -> dict:
    """The session's state as plain data (for a CLI session that spans processes)."""
    return {
        "id": session.id,
        "language": session.language,
        "history": [vars(h) for h in session.history],
        "entities": dict(session.entities),
        "pending": vars(session.pending) if session.pending else None,
        "failures": session.failures,
        "handed_off": session.handed_off,
    }


def session_from_dict(data: dict, history: int = 8) -> Session:
    session = Session(
        data["id"],
        language=data.get("language"),
        history=deque((HistoryItem(**h) for h in data.get("history", [])), maxlen=history),
    )
    session.entities.update(data.get("entities", {}))
    session.pending = Pending(**data["pending"]) if data.get("pending") else None
    session.failures = int(data.get("failures", 0))
    session.handed_off = data.get("handed_off")
    return session


class SessionStore:
    """Thread-safe sessions by id, expiring after ``ttl_s`` idle and capped at ``max_sessions``."""

    def __init__(self, max_sessions: int = 1_000, ttl_s: float = 1_800.0, history: int = 8):
        self.max_sessions, self.ttl_s, self.history = max_sessions, ttl_s, history
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str | None = None) -> Session:
        """The session with this id (a new one when unknown or expired)."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            sid = session_id or uuid.uuid4().hex[:12]
            session = self._sessions.get(sid)
            if session is None:
                session = Session(sid, history=deque(maxlen=self.history))
                self._sessions[sid] = session
                while len(self._sessions) > self.max_sessions:
                    dropped, _ = self._sessions.popitem(last=False)
                    logger.info("session limit reached: dropped the oldest session %s", dropped)
            self._sessions.move_to_end(sid)
            session.last_active = now
            return session

    def reset(self, session_id: str) -> Session:
        with self._lock:
            self._sessions.pop(session_id, None)
        return self.get(session_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _expire(self, now: float) -> None:
        stale = [sid for sid, s in self._sessions.items() if now - s.last_active > self.ttl_s]
        for sid in stale:
            del self._sessions[sid]
