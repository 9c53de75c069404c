"""Hear a turn's progress while the agent works: the transcript first, then the reply text.

``Agent.respond`` runs a whole turn in one call. The page wants to show the transcript the
moment it exists and the reply before its audio is ready, so the app wraps the shared
transcriber and synthesizer in taps that report to the listener of the turn running in the
current thread (a ``ContextVar``: turns of other tabs run in other threads and never see it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from agent.messages import AudioIn, SpeechOut, Transcript
from agent.pipeline import Stages, Synthesizer, Transcriber

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnEvent:
    """Something the page can show before the turn is over."""

    kind: str
    """``transcript`` (payload: Transcript) or ``speaking`` (payload: the reply text)."""
    payload: Any


Listener = Callable[[TurnEvent], None]
_listener: ContextVar[Listener | None] = ContextVar("parla_turn_listener", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Route the taps' events of turns run inside this block (in this thread) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def _emit(event: TurnEvent) -> None:
    listener = _listener.get()
    if listener is None:
        return
    try:
        listener(event)
    except Exception:  # noqa: BLE001 - a broken display must never break the turn
        logger.exception("turn listener failed on %s", event.kind)


class TappedTranscriber:
    def __init__(self, inner: Transcriber) -> None:
        self.inner = inner

    def transcribe(self, audio: AudioIn, language: str | None = None) -> Transcript:
        transcript = self.inner.transcribe(audio, language)
        _emit(TurnEvent("transcript", transcript))
        return transcript


class TappedSynthesizer:
    def __init__(self, inner: Synthesizer) -> None:
        self.inner = inner

    def synthesize(self, text: str, language: str) -> SpeechOut:
        _emit(TurnEvent("speaking", text))
        return self.inner.synthesize(text, language)

    def __getattr__(self, name: str) -> Any:  # streaming and other extras of the real voice
        return getattr(self.inner, name)


def install_taps(stages: Stages) -> None:
    """Wrap the voice stages once (idempotent); other code keeps calling them unchanged."""
    if stages.transcriber is not None and not isinstance(stages.transcriber, TappedTranscriber):
        stages.transcriber = TappedTranscriber(stages.transcriber)
    if stages.synthesizer is not None and not isinstance(stages.synthesizer, TappedSynthesizer):
        stages.synthesizer = TappedSynthesizer(stages.synthesizer)
