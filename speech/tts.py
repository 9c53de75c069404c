"""Text to speech: a voice per language, chosen from a table, with a fallback, streamed by sentence.

``load_synthesizer(config)`` returns the process-wide ``Synthesizer``. A voice is named
``engine:target[?option=value&...]`` in ``[tts] voices`` (``piper:bundle:piper-joe-en``,
``piper:/voices/de_DE-thorsten-medium.onnx``, ``espeak-ng:fr-fr?rate=150``, ``coqui:/models/my``,
``pico:de``); ``pico:de|espeak-ng:de`` lists voices in order of preference, the first that loads
speaks (an optional system voice that is not installed falls back to the next, noted in the trace).
A language with no entry gets ``config.fallback`` (espeak-ng reads about 100 languages); a
language no engine reads falls back to the first voice in the table, and ``SpeechOut.fallback``
and ``notes`` say so for the trace. ``stream()`` yields one ``SpeechOut`` per piece of the reply,
so the first words play while the rest is synthesised.
"""

from __future__ import annotations

import importlib
import logging
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl

import numpy as np

from agent.config import TTSConfig
from agent.errors import ParlaError
from agent.messages import SpeechOut
from speech.audio import (  # re-exported: callers write replies from here
    resample,
    wav_bytes,
    write_wav,
)
from speech.speakable import pieces, speakable, truncate

logger = logging.getLogger(__name__)

__all__ = [
    "Synthesizer",
    "TableSynthesizer",
    "VoiceSpec",
    "load_synthesizer",
    "wav_bytes",
    "write_wav",
]

BACKENDS: dict[str, str] = {  # engine name -> "module:loader"; imported only when used
    "piper": "speech.tts_piper:load_voice",
    "espeak-ng": "speech.tts_espeak:load_voice",
    "coqui": "speech.tts_coqui:load_voice",
    "pico": "speech.tts_pico:load_voice",
    "fastspeech2": "speech.tts_fastspeech:load_voice",
}


@dataclass(frozen=True)
class VoiceSpec:
    """A voice as the config names it: ``engine:target?option=value``."""

    engine: str
    target: str
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def parse(cls, text: str, language: str = "") -> VoiceSpec:
        engine, sep, rest = text.partition(":")
        if not sep and engine in BACKENDS:  # "espeak-ng" alone: the language's default voice
            rest = language
        elif not sep or engine not in BACKENDS:
            known = ", ".join(sorted(BACKENDS))
            raise ParlaError(f"voice {text!r} should look like ENGINE:VOICE with ENGINE in {known}")
        target, _, query = rest.partition("?")
        return cls(engine, target, dict(parse_qsl(query)))

    def __str__(self) -> str:
        return f"{self.engine}:{self.target}"


class Voice(Protocol):
    """One loaded voice of one engine."""

    engine: str
    name: str
    sample_rate: int

    def speak(self, text: str) -> np.ndarray:
        """Mono float32 samples in [-1, 1] at ``sample_rate`` for a short piece of text."""
        ...


class Synthesizer(Protocol):
    def synthesize(self, text: str, language: str) -> SpeechOut:
        """The whole reply as one clip."""
        ...

    def stream(self, text: str, language: str) -> Iterator[SpeechOut]:
        """The reply piece by piece (first clause first); each ready as soon as it is made."""
        ...


VoiceLoader = Callable[[VoiceSpec, str], Voice]


def system_binary(name: str, hint: str) -> str:
    """The path of an engine's program, or a clear error saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise ParlaError(f"{name} is not installed: {hint}")
    return path


def load_voice(spec: VoiceSpec, language: str) -> Voice:
    """Load one voice with its engine's loader (the engine's package is imported only now)."""
    module_name, func = BACKENDS[spec.engine].split(":")
    loader: VoiceLoader = getattr(importlib.import_module(module_name), func)
    return loader(spec, language)


@dataclass(frozen=True)
class _Choice:
    voice: Voice
    fallback: bool
    note: str


class TableSynthesizer:
    """The ``Synthesizer``: voice table + fallback + speakable text + pieces."""

    def __init__(self, config: TTSConfig, loader: VoiceLoader | None = None) -> None:
        if not config.voices and not config.fallback:
            raise ParlaError("tts needs at least one voice or a fallback engine")
        self.config = config
        self._loader = loader or load_voice
        self._voices: dict[str, _Choice] = {}
        self._lock = threading.RLock()  # the fallback chain re-enters voice_for

    def voice_for(self, language: str) -> _Choice:
        """The voice for ``language``, loaded once; the fallback chain when it has none."""
        with self._lock:
            if language not in self._voices:
                self._voices[language] = self._choose(language)
            return self._voices[language]

    def _choose(self, language: str) -> _Choice:
        wanted = [w.strip() for w in self.config.voices.get(language, "").split("|") if w.strip()]
        missing: list[str] = []
        for rank, spec_text in enumerate(wanted):  # "pico:de|espeak-ng:de": the first that loads
            try:
                voice = self._loader(VoiceSpec.parse(spec_text, language), language)
            except ParlaError as exc:
                if rank == len(wanted) - 1:
                    raise
                logger.warning(
                    "voice %s for %s cannot load (%s): trying the next", spec_text, language, exc
                )
                missing.append(spec_text)
                continue
            note = (
                f"{' and '.join(missing)} not available: spoken with {spec_text}" if missing else ""
            )
            return _Choice(voice, bool(missing), note)
        if self.config.fallback:
            try:
                spec = VoiceSpec.parse(self.config.fallback, language)
                voice = self._loader(spec, language)
                note = f"no voice configured for {language}: using {spec.engine} ({voice.name})"
                return _Choice(voice, True, note)
            except ParlaError as exc:
                logger.info("fallback engine cannot read %s: %s", language, exc)
        if not self.config.voices:
            raise ParlaError(f"no voice can read language {language!r}")
        other, spec_text = next(iter(self.config.voices.items()))
        voice = self.voice_for(other).voice
        note = f"no voice reads {language}: spoken with the {other} voice {spec_text}"
        return _Choice(voice, True, note)

    def _prepare(self, text: str, language: str) -> tuple[list[str], tuple[str, ...]]:
        if not text or not text.strip():
            raise ParlaError("nothing to say: the reply text is empty")
        notes: list[str] = []
        text, cut = truncate(text, self.config.max_chars)
        if cut:
            notes.append(f"reply spoken up to {len(text)} characters (tts.max_chars)")
        if self.config.normalise_text:
            text = speakable(text, language)
        parts = pieces(text, self.config.first_chunk_chars, self.config.chunk_chars)
        if not parts:
            raise ParlaError("nothing to say: the reply holds no speakable words")
        return parts, tuple(notes)

    def stream(self, text: str, language: str) -> Iterator[SpeechOut]:
        parts, notes = self._prepare(text, language)
        choice = self.voice_for(language)
        notes = notes + ((choice.note,) if choice.note else ())
        for part in parts:
            yield SpeechOut(
                samples=self._speak(choice.voice, part, language),
                sample_rate=choice.voice.sample_rate,
                engine=choice.voice.engine,
                voice=choice.voice.name,
                fallback=choice.fallback,
                notes=notes,
            )

    def _speak(self, voice: Voice, part: str, language: str) -> np.ndarray:
        """The piece in ``voice``; in a ``latin_words`` language its runs of Latin-script words
        ("Voltia Plus", "V T") in that table's voice, at ``voice``'s rate and loudness."""
        other = self.config.latin_words.get(language)
        if not other or other == language or not LATIN_RUN.search(part):
            return voice.speak(part)
        latin = self.voice_for(other).voice
        runs = [(is_latin, latin if is_latin else voice, run) for run, is_latin in latin_runs(part)]
        audio = [
            (is_latin, np.asarray(v.speak(run), np.float32), v.sample_rate)
            for is_latin, v, run in runs
        ]
        native = [a for is_latin, a, _ in audio if not is_latin]
        gain = _level_match(native, [a for is_latin, a, _ in audio if is_latin])
        rate = voice.sample_rate
        return np.concatenate(
            [resample(a * (gain if is_latin else 1.0), r, rate) for is_latin, a, r in audio]
            or [np.zeros(0, dtype=np.float32)]
        )

    def synthesize(self, text: str, language: str) -> SpeechOut:
        outs = list(self.stream(text, language))
        return concatenate(outs, self.config.pause_s)


LATIN_RUN = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:[\s'’.-]+[A-Za-z\u00c0-\u024f]+)*")


def latin_runs(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (run, is Latin-script words) in order; runs holding no letter or digit
    (a lone comma between two names) are dropped."""
    out: list[tuple[str, bool]] = []
    start = 0
    for match in LATIN_RUN.finditer(text):
        out += [(text[start : match.start()], False), (match.group(), True)]
        start = match.end()
    out.append((text[start:], False))
    return [(run, latin) for run, latin in out if any(c.isalnum() for c in run)]


def _level_match(target: list[np.ndarray], other: list[np.ndarray]) -> float:
    """Gain that brings ``other``'s loudness (RMS) to ``target``'s, within 0.5-2."""

    def rms(parts: list[np.ndarray]) -> float:
        joined = np.concatenate(parts) if parts else np.zeros(0)
        return float(np.sqrt(np.mean(np.square(joined)))) if joined.size else 0.0

    want, have = rms(target), rms(other)
    return float(np.clip(want / have, 0.5, 2.0)) if want > 0 and have > 0 else 1.0


def concatenate(outs: list[SpeechOut], pause_s: float = 0.25) -> SpeechOut:
    """One clip from streamed pieces, with a short pause between them."""
    if not outs:
        raise ParlaError("nothing to say: no audio was produced")
    first = outs[0]
    gap = np.zeros(int(pause_s * first.sample_rate), dtype=np.float32)
    joined: list[np.ndarray] = []
    for i, out in enumerate(outs):
        joined += ([gap] if i else []) + [np.asarray(out.samples, dtype=np.float32)]
    return SpeechOut(
        samples=np.concatenate(joined),
        sample_rate=first.sample_rate,
        engine=first.engine,
        voice=first.voice,
        fallback=first.fallback,
        notes=first.notes,
    )


_CACHE: dict[str, TableSynthesizer] = {}
_CACHE_LOCK = threading.Lock()


def load_synthesizer(config: TTSConfig | None = None) -> Synthesizer:
    """The process-wide synthesizer for ``config`` (each voice loads on its first use)."""
    config = config or TTSConfig()
    key = repr(config)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = TableSynthesizer(config)
        return _CACHE[key]
