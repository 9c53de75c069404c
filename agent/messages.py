"""The typed messages that flow between Parla's stages.

One turn travels: ``AudioIn`` -> ``Transcript`` -> ``LanguageDecision`` -> ``Intent`` and
``Entity`` -> ``Passage`` -> ``Reply`` -> ``SpeechOut``, and every stage's decision and timing
is recorded in a ``Trace``. All are frozen: a stage returns a new message, it never edits one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SAMPLE_RATE = 16_000  # Hz: what Whisper expects; every AudioIn is resampled to it
SECTION_SEPARATOR = " > "  # between the headings of a passage's section path


def titled_text(title: str, section: str, text: str) -> str:
    """A passage with its title and headings above it: what the embedder reads, and what a
    reply may take its words from."""
    return "\n".join(part for part in (title, section, text) if part)


LanguageSource = Literal["user", "speech", "text", "session", "default"]
ResponderPath = Literal["generated", "extractive", "no_answer", "template"]
Action = Literal["answer", "ask_slot", "clarify", "decline", "handoff", "small_talk"]


@dataclass(frozen=True, eq=False)
class AudioIn:
    """Decoded speech from the user."""

    samples: np.ndarray
    """Mono float32 in [-1, 1] at ``sample_rate``."""
    sample_rate: int = SAMPLE_RATE
    """Samples per second."""

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True)
class Segment:
    """A stretch of recognised speech."""

    start_s: float
    """Start time in seconds from the beginning of the clip."""
    end_s: float
    """End time in seconds."""
    text: str
    """What was said in it."""
    language: str = ""
    """ISO 639-1 code of this piece (a caller may switch language between utterances)."""


@dataclass(frozen=True)
class Transcript:
    """What the speech recogniser heard."""

    text: str
    """The words, empty when nothing was said."""
    language: str
    """ISO 639-1 code chosen by the recogniser's language ID (restricted to the configured ones)."""
    language_probability: float
    """The recogniser's probability for ``language``."""
    segments: tuple[Segment, ...] = ()
    """Timed pieces of ``text``."""
    no_speech: bool = False
    """True when the audio held silence, noise or music: ``text`` is then empty."""
    duration_s: float = 0.0
    """Length of the audio that was transcribed."""


@dataclass(frozen=True)
class LanguageDecision:
    """The language a turn is answered in, and why."""

    code: str
    """ISO 639-1 code, one of the configured languages."""
    confidence: float
    """Probability of ``code`` from the detector that decided (1.0 for a user's choice)."""
    source: LanguageSource
    """Who decided: the user, the speech recogniser, the text detector, or the session."""
    evidence: str = ""
    """A short human-readable reason, shown in the trace."""


@dataclass(frozen=True)
class IntentScore:
    """One candidate intent with its calibrated probability."""

    label: str
    confidence: float


@dataclass(frozen=True)
class Intent:
    """What the user wants."""

    label: str
    """An intent name, or ``out_of_scope``."""
    confidence: float
    """Calibrated probability of ``label``."""
    alternatives: tuple[IntentScore, ...] = ()
    """The next most likely intents, best first."""
    source: Literal["model", "prototype", "rule"] = "model"
    """The fine-tuned model, an embedding prototype (few-shot intent), or a rule."""


@dataclass(frozen=True)
class Entity:
    """A piece of information found in the user's words."""

    type: str
    """``order_number``, ``email``, ``phone``, ``date``, ``amount`` or ``product``."""
    text: str
    """The words as the user wrote them."""
    value: str
    """Normalised value (``VT-20481736``, ``2026-03-05``, ``49.99 EUR`` ...)."""
    start: int = 0
    """Character offset of ``text`` in the turn."""
    end: int = 0
    """Character offset just past ``text``."""


@dataclass(frozen=True)
class Passage:
    """A piece of a knowledge-base document, retrieved for a question."""

    doc_id: str
    """Stable document id: path relative to the knowledge-base root (+ ``#row`` for FAQ rows)."""
    title: str
    """The document's title."""
    text: str
    """The chunk's text."""
    language: str
    """ISO 639-1 code of the document."""
    score: float
    """Cosine similarity to the question (higher is better)."""
    chunk_id: int = 0
    """Position of the chunk in the index."""
    section: str = ""
    """The headings above the chunk in its document, joined by ``SECTION_SEPARATOR``
    ("Delivery > Express"), if any."""

    @property
    def evidence(self) -> str:
        """Title, headings and text: everything a reply may take its words from (the same
        text the embedder saw, ``titled_text``)."""
        return titled_text(self.title, self.section, self.text)


@dataclass(frozen=True)
class Reply:
    """What Parla says back, in words."""

    text: str
    """The reply shown and spoken."""
    language: str
    """ISO 639-1 code of ``text``."""
    cited_ids: tuple[str, ...] = ()
    """Document ids the reply is grounded in."""
    grounded: bool = True
    """True when every fact in ``text`` is supported by the cited passages."""
    path: ResponderPath = "template"
    """How it was written: generated, extractive, no_answer or a dialogue template."""
    notes: tuple[str, ...] = ()
    """Why the responder did what it did (passages truncated, guard fallback ...): for the trace."""


@dataclass(frozen=True, eq=False)
class SpeechOut:
    """The reply as audio."""

    samples: np.ndarray
    """Mono float32 in [-1, 1]."""
    sample_rate: int
    """Samples per second of ``samples`` (the voice's own rate)."""
    engine: str
    """Synthesis backend used (``piper``, ``espeak-ng`` ...)."""
    voice: str
    """Voice name within the engine."""
    fallback: bool = False
    """True when the language had no voice of its own and another was used."""
    notes: tuple[str, ...] = ()
    """What the trace should tell an operator (the fallback voice used, a reply cut short)."""


@dataclass(frozen=True)
class Trace:
    """Why a turn was answered the way it was: shown in the app's why panel and the CLI."""

    language: LanguageDecision
    intent: Intent
    action: Action
    entities: tuple[Entity, ...] = ()
    passages: tuple[Passage, ...] = ()
    responder_path: ResponderPath = "template"
    transcript: Transcript | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage (``asr``, ``language``, ``intent``, ``retrieval``, ...)."""
    notes: tuple[str, ...] = ()
    """Anything else worth telling an operator (a voice fallback, a truncated input ...)."""
    handled_as: str | None = None
    """The intent the turn was served as: the classifier's, or the pending request's when this
    turn only supplied a missing entity, or the previous topic for a short follow-up."""


@dataclass(frozen=True, eq=False)
class Turn:
    """One thing the user said: typed text or recorded audio."""

    text: str | None = None
    """Typed text (None for a voice turn)."""
    audio: AudioIn | None = None
    """Recorded speech (None for a text turn)."""
    language: str | None = None
    """The user's explicit language choice, which wins over detection."""
    speak: bool = False
    """Synthesize the reply as audio."""


@dataclass(frozen=True, eq=False)
class TurnResult:
    """Everything Parla produced for one turn."""

    reply: Reply
    trace: Trace
    speech: SpeechOut | None = None
    """The reply as audio, when the turn asked for it."""
    ticket: str | None = None
    """The handoff ticket number, when the turn was handed to a person."""
