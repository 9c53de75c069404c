"""The conversation log and handoff tickets, in a local SQLite file.

Every turn is logged with personal data masked (emails, phone and card numbers always; order
numbers when configured), so the log can train the next model (``parla export``) without
holding what it must not. A handoff writes a ticket a person picks up: transcript, language,
intents, entities and passages.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from agent.errors import ParlaError
from agent.messages import Trace

logger = logging.getLogger(__name__)

_MASKS = (
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("card", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
    ("phone", re.compile(r"(?<![\w-])\+?\d[\d ()./-]{7,}\d")),
)
_ORDER = re.compile(r"\bVT[\s-]?\d{8}\b", re.IGNORECASE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY, session TEXT, at REAL, language TEXT, user TEXT, reply TEXT,
    intent TEXT, confidence REAL, action TEXT, trace TEXT);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, at REAL, state TEXT);
CREATE TABLE IF NOT EXISTS tickets (
    ticket TEXT PRIMARY KEY, session TEXT, at REAL, language TEXT, reason TEXT, transcript TEXT);
"""


def mask(text: str, mask_orders: bool = False) -> str:
    """Replace personal data with a placeholder naming its type."""
    for name, pattern in _MASKS:
        text = pattern.sub(f"<{name}>", text)
    return _ORDER.sub("<order>", text) if mask_orders else text


class ConversationStore:
    def __init__(self, path: Path, mask_orders: bool = False) -> None:
        self.path, self.mask_orders = path, mask_orders
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ParlaError(f"cannot open the conversation log {path}: {exc}") from None
        self._lock = threading.Lock()

    def log_turn(self, session: str, user: str, reply: str, trace: Trace) -> None:
        row = (
            session,
            time.time(),
            trace.language.code,
            self._mask(user),
            self._mask(reply),
            trace.intent.label,
            trace.intent.confidence,
            trace.action,
            self._mask(json.dumps(asdict(trace), ensure_ascii=False, default=str)),
        )
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO turns (session, at, language, user, reply, intent, confidence,"
                " action, trace) VALUES (?,?,?,?,?,?,?,?,?)",
                row,
            )

    def open_ticket(self, session: str, language: str, reason: str, transcript: list[dict]) -> str:
        ticket = "TK-" + uuid.uuid4().hex[:8].upper()
        body = self._mask(json.dumps(transcript, ensure_ascii=False, default=str))
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO tickets VALUES (?,?,?,?,?,?)",
                (ticket, session, time.time(), language, reason, body),
            )
        logger.info("handoff: ticket %s for session %s (%s)", ticket, session, reason)
        return ticket

    def ticket(self, ticket: str) -> dict | None:
        cur = self._db.execute("SELECT * FROM tickets WHERE ticket = ?", (ticket,))
        row = cur.fetchone()
        if row is None:
            return None
        names = [c[0] for c in cur.description]
        out = dict(zip(names, row, strict=True))
        out["transcript"] = json.loads(out["transcript"])
        return out

    def export_training(self, min_confidence: float = 0.9) -> list[dict]:
        """Logged turns as intent training lines (the model's confident, non-fallback labels)."""
        cur = self._db.execute(
            "SELECT user, intent, language FROM turns WHERE confidence >= ? AND action IN"
            " ('answer', 'small_talk', 'decline', 'handoff') AND intent != ''",
            (min_confidence,),
        )
        return [{"text": u, "label": i, "lang": lang} for u, i, lang in cur.fetchall()]

    def save_session(self, session_id: str, state: dict) -> None:
        """Keep a session's state between processes (``parla chat --session ID``)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?,?,?)",
                (session_id, time.time(), json.dumps(state, ensure_ascii=False)),
            )

    def load_session(self, session_id: str, ttl_s: float) -> dict | None:
        row = self._db.execute(
            "SELECT at, state FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None or time.time() - row[0] > ttl_s:
            return None
        return dict(json.loads(row[1]))

    def count(self, table: str = "turns") -> int:
        assert table in ("turns", "tickets", "sessions")
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def _mask(self, text: str) -> str:
        return mask(text, self.mask_orders)
