"""Browser tabs and the turns they run.

Each tab is one conversation (``Tab``, keyed by a random id the page keeps in its
``sessionStorage``, so a reload finds it again and another tab never does). What the page
shows is kept here, server-side: a turn that was running when the page reloaded still finishes,
and the reloaded page shows its answer. Turns run on a small thread pool (the CPU is the limit,
not the number of tabs) and report their progress (transcript, reply text) as they go.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from agent.errors import ParlaError
from agent.messages import Turn, TurnResult
from agent.pipeline import Agent
from agent.session import SessionStore
from ui.render import (
    ArticleLookup,
    Message,
    heard_text,
    pending_message,
    reply_messages,
    user_message,
)
from ui.taps import TurnEvent, listening

logger = logging.getLogger(__name__)

FAILED = "Sorry, something went wrong on our side and this message was not answered. Try again?"


@dataclass
class RunningTurn:
    """A turn in progress, and what the page shows of it so far."""

    voice: bool
    partial: list[Message]
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Tab:
    """One browser tab's conversation, as the page shows it."""

    id: str
    messages: list[Message] = field(default_factory=list)
    """Finished turns, rendered."""
    last: TurnResult | None = None
    """The latest finished turn (for the why panel, the language badge and the audio)."""
    ticket: str | None = None
    """Set once the conversation was handed to a person."""
    running: RunningTurn | None = None
    last_active: float = field(default_factory=time.monotonic)

    def shown(self) -> list[Message]:
        running = self.running
        return list(self.messages) + (list(running.partial) if running else [])


class Tabs:
    """Tabs by id: capped in number, expired when idle, never handed to a guessed id."""

    def __init__(self, max_tabs: int = 1_000, ttl_s: float = 1_800.0) -> None:
        self.max_tabs, self.ttl_s = max_tabs, ttl_s
        self._tabs: OrderedDict[str, Tab] = OrderedDict()
        self._lock = threading.Lock()

    def new(self) -> Tab:
        tab = Tab(secrets.token_hex(8))
        with self._lock:
            self._expire()
            self._tabs[tab.id] = tab
            while len(self._tabs) > self.max_tabs:
                self._tabs.popitem(last=False)
        return tab

    def get(self, tab_id: str | None) -> Tab | None:
        """The tab with this id, or None when unknown or expired (the caller makes a new one)."""
        with self._lock:
            self._expire()
            tab = self._tabs.get(tab_id or "")
            if tab is not None:
                self._tabs.move_to_end(tab.id)
                tab.last_active = time.monotonic()
            return tab

    def get_or_new(self, tab_id: str | None) -> Tab:
        return self.get(tab_id) or self.new()

    def _expire(self) -> None:
        now = time.monotonic()
        stale = [
            t.id
            for t in self._tabs.values()
            if now - t.last_active > self.ttl_s and t.running is None
        ]
        for tab_id in stale:
            del self._tabs[tab_id]


class TurnRunner:
    """Runs turns off the event loop, at most ``workers`` at once, and streams their progress."""

    def __init__(
        self,
        agent: Agent,
        sessions: SessionStore,
        workers: int = 2,
        article: ArticleLookup | None = None,
    ) -> None:
        self.agent, self.sessions, self.article = agent, sessions, article
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="parla-turn")
        self._starting = threading.Lock()  # one turn at a time per tab, even on a double click

    async def run(self, tab: Tab, turn: Turn, shown: str) -> AsyncIterator[Tab]:
        """Yield ``tab`` each time what it shows changes, until the turn is over.

        The turn finishes (and is recorded in ``tab``) even when the caller stops listening,
        e.g. because the page was reloaded.
        """
        voice = turn.audio is not None
        first_step = "Listening to your recording…" if voice else "Looking it up…"
        running = RunningTurn(voice, [user_message(shown, voice), pending_message(first_step)])
        with self._starting:
            if tab.running is not None:
                raise ParlaError("Parla is still answering your previous message: one moment.")
            tab.running = running
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[str] = asyncio.Queue()

        def notify(kind: str) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, kind)
            except RuntimeError:  # the server has stopped: nobody is listening any more
                pass

        def finished(future: Future) -> None:
            self._finish(tab, running, future)
            notify("done")

        self.pool.submit(self._work, tab, turn, running, notify).add_done_callback(finished)
        yield tab
        while await events.get() != "done":
            yield tab
        yield tab

    def _work(self, tab: Tab, turn: Turn, running: RunningTurn, notify) -> TurnResult:
        def on_event(event: TurnEvent) -> None:
            running.partial = _progress(running.partial, event)
            notify(event.kind)

        session = self.sessions.get(tab.id)
        with listening(on_event):
            return self.agent.respond(turn, session)

    def _finish(self, tab: Tab, running: RunningTurn, future: Future) -> None:
        """Record the finished turn in the tab (in the worker thread: nobody may be listening)."""
        user = running.partial[0]
        try:
            result: TurnResult = future.result()
        except Exception:  # noqa: BLE001 - the page says so; the log has the details
            logger.exception("turn failed in tab %s", tab.id)
            tab.messages = tab.messages + [user, {"role": "assistant", "content": FAILED}]
        else:
            if running.voice:
                user = user_message(heard_text(result.trace.transcript), voice=True)
            tab.messages = tab.messages + [user] + reply_messages(result, self.article)
            tab.last = result
            tab.ticket = result.ticket or tab.ticket
        tab.running = None
        tab.last_active = time.monotonic()
        running.done.set()


def _progress(partial: list[Message], event: TurnEvent) -> list[Message]:
    """What the page shows after ``event``: the heard words, then the reply before its audio."""
    if event.kind == "transcript":
        heard = user_message(heard_text(event.payload), voice=True)
        return [heard, pending_message("Looking it up…")]
    if event.kind == "speaking":
        reply = {"role": "assistant", "content": event.payload}
        return [partial[0], reply, pending_message("Preparing the voice…")]
    return partial
