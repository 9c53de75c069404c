"""The chat tab's behaviour: what each event does and what the page shows after it.

Handlers take and return plain values in a fixed order (``VIEW``), so they can be called
without a browser. Every bad input ends in a sentence in the status line, never a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import LANGUAGES, ASRConfig, UIConfig
from agent.errors import ParlaError
from agent.messages import Turn, TurnResult
from agent.pipeline import Agent
from agent.session import SessionStore
from ui.conversations import Tab, Tabs, TurnRunner
from ui.knowledge import KnowledgeBaseAdmin
from ui.render import AUTO, handoff_banner, language_badge, status_html, why_markdown
from ui.taps import install_taps
from ui.voice import read_recording

logger = logging.getLogger(__name__)

VIEW = ("tab id", "chatbot", "status", "why", "language badge", "handoff banner", "reply audio")
RESTORE_WAIT_S = 180.0  # how long a reloaded page waits for the turn it interrupted


@dataclass
class AppContext:
    """What the page works with: the real agent and knowledge base, or a test's fakes."""

    agent: Agent
    sessions: SessionStore
    asr: ASRConfig = field(default_factory=ASRConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    languages: tuple[str, ...] = LANGUAGES
    knowledge: KnowledgeBaseAdmin | None = None
    reports_root: Path | None = None
    title: str = "Voltia help centre"


class ChatPage:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        install_taps(ctx.agent.stages)
        self.tabs = Tabs(ctx.agent.config.max_sessions, ctx.agent.config.session_ttl_s)
        article = ctx.knowledge.article if ctx.knowledge is not None else None
        self.runner = TurnRunner(ctx.agent, ctx.sessions, ctx.ui.concurrency, article)

    @property
    def can_listen(self) -> bool:
        return self.ctx.agent.stages.transcriber is not None

    @property
    def can_speak(self) -> bool:
        return self.ctx.agent.stages.synthesizer is not None

    def view(
        self, tab: Tab, language: str, status: str = "", kind: str = "info", audio: Any = None
    ) -> tuple:
        """The chat tab's outputs, in ``VIEW`` order. ``audio`` is new reply audio (or a skip)."""
        last = tab.last.trace if tab.last else None
        return (
            tab.id,
            tab.shown(),
            status_html(status, kind),
            why_markdown(tab.last),
            language_badge(last, language),
            handoff_banner(tab.ticket),
            audio,
        )

    async def send_text(
        self, text: str, language: str, speak: bool, tab_id: str
    ) -> AsyncIterator[tuple]:
        """A typed turn. Yields ``VIEW`` plus the text box's new value."""
        tab = self.tabs.get_or_new(tab_id)
        text = (text or "").strip()
        if not text:
            hint = "Type a question first, or use the microphone."
            yield (*self.view(tab, language, hint, "warn", _skip()), _skip())
            return
        turn = Turn(text=text, language=_chosen(language), speak=bool(speak) and self.can_speak)
        first = True
        async for out in self._run(tab, turn, text, language):
            yield (*out, "" if first else _skip())
            first = False

    async def send_voice(
        self, recording: str | None, language: str, speak: bool, tab_id: str
    ) -> AsyncIterator[tuple]:
        """A spoken turn (microphone or uploaded clip). Yields ``VIEW`` and the recorder's value."""
        tab = self.tabs.get_or_new(tab_id)
        if not self.can_listen:
            unavailable = "Voice is not available on this server: please type."
            yield (*self.view(tab, language, unavailable, "warn", _skip()), None)
            return
        try:
            audio = await asyncio.to_thread(read_recording, recording, self.ctx.asr, self.ctx.ui)
        except ParlaError as exc:
            yield (*self.view(tab, language, str(exc), "warn", _skip()), None)
            return
        turn = Turn(audio=audio, language=_chosen(language), speak=bool(speak) and self.can_speak)
        async for out in self._run(tab, turn, "…", language):
            yield (*out, None)

    async def _run(self, tab: Tab, turn: Turn, shown: str, language: str) -> AsyncIterator[tuple]:
        before = tab.last
        try:
            async for _ in self.runner.run(tab, turn, shown):
                if tab.running is not None:
                    yield self.view(tab, language, "Parla is answering…", "info", _skip())
        except ParlaError as exc:
            yield self.view(tab, language, str(exc), "warn", _skip())
            return
        if tab.last is before:  # the turn failed; the chat already says so
            yield self.view(tab, language, "That message could not be answered.", "error", None)
            return
        status, kind = finished_status(tab.last, turn)
        yield self.view(tab, language, status, kind, speech_value(tab.last))

    async def restore(self, tab_id: str, language: str) -> AsyncIterator[tuple]:
        """On page load: this tab's conversation after a reload, or a fresh one."""
        tab = self.tabs.get(tab_id)
        if tab is None:
            yield self.view(self.tabs.new(), language or AUTO)
            return
        running = tab.running
        if running is None:
            note = "Conversation restored after the page reloaded." if tab.messages else ""
            yield self.view(tab, language, note)
            return
        yield self.view(
            tab,
            language,
            "The page reloaded while Parla was answering: the answer will appear here.",
        )
        await asyncio.to_thread(running.done.wait, RESTORE_WAIT_S)
        yield self.view(tab, language, "Here is the answer to the message sent before the reload.")

    def new_conversation(self, language: str) -> tuple:
        return self.view(self.tabs.new(), language, "New conversation: ask anything.", "ok", None)

    def change_language(self, language: str, tab_id: str) -> str:
        tab = self.tabs.get(tab_id)
        trace = tab.last.trace if tab is not None and tab.last is not None else None
        return language_badge(trace, language)

    async def ask(self, text: str, language: str = AUTO, session: str = "") -> dict:
        """One typed turn for scripts: the same JSON as ``parla chat --json`` plus the session."""
        from agent.commands import result_json

        if not text or not text.strip():
            raise ParlaError("the message is empty: type a question")
        tab = self.tabs.get_or_new(session)
        before = tab.last
        turn = Turn(text=text.strip(), language=_chosen(language))
        async for _ in self.runner.run(tab, turn, text.strip()):
            pass
        if tab.last is None or tab.last is before:
            raise ParlaError("the turn failed; see the server log")
        return result_json(tab.last, tab.id)


def finished_status(result: TurnResult | None, turn: Turn) -> tuple[str, str]:
    """The status line after a turn: how long it took, or what went wrong."""
    if result is None:
        return "", "info"
    transcript = result.trace.transcript
    if transcript is not None and transcript.no_speech:
        return (
            "No speech was heard in that recording. Speak closer to the microphone, or type.",
            "warn",
        )
    seconds = result.trace.latency_ms.get("total", 0.0) / 1000
    text = f"Answered in {seconds:.1f} s"
    if turn.speak and result.speech is None:
        text += " (no voice for this reply)"
    elif result.speech is not None and result.speech.fallback:
        text += f" · spoken with the {result.speech.engine} fallback voice"
    return text + ".", "info"


def speech_value(result: TurnResult | None) -> tuple[int, Any] | None:
    """The reply audio for the player, as (sample rate, int16 samples)."""
    if result is None or result.speech is None:
        return None
    from speech.audio import to_int16

    return int(result.speech.sample_rate), to_int16(result.speech.samples)


def _chosen(language: str | None) -> str | None:
    return None if not language or language == AUTO else language


def _skip() -> Any:
    import gradio as gr

    return gr.skip()
