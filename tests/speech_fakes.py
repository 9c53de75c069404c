"""Fakes and clip makers for the speech stage's tests (nothing here is a real model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.messages import SAMPLE_RATE
from speech.asr import Decoded
from speech.vad import SpeechRegion


def tone(seconds: float, rate: int = SAMPLE_RATE, freq: float = 440.0, amp: float = 0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@dataclass
class FakeEngine:
    """A Whisper engine that "hears" scripted texts, one per encode call, and records calls."""

    texts: list[str]
    probs: dict[str, float] = field(default_factory=lambda: {"en": 0.7, "de": 0.2, "ja": 0.1})
    no_speech_prob: float = 0.01
    avg_logprob: float = -0.2
    name: str = "fake"
    windows: list[float] = field(default_factory=list)
    decodes: list[tuple[str, float, str]] = field(default_factory=list)

    def encode(self, samples: np.ndarray, window_s: float) -> Any:
        self.windows.append(window_s)
        return len(self.windows) - 1

    def language_probs(self, encoded: Any) -> dict[str, float]:
        return dict(self.probs)

    def decode(self, encoded, language, max_tokens, temperature=0.0, prompt="") -> Decoded:
        self.decodes.append((language, temperature, prompt))
        text = self.texts[min(encoded, len(self.texts) - 1)] if self.texts else ""
        return Decoded(text, self.avg_logprob, self.no_speech_prob)


@dataclass
class FakeVAD:
    """Speech exactly where the test says (seconds)."""

    spans: list[tuple[float, float]]

    def regions(self, samples: np.ndarray) -> list[SpeechRegion]:
        return [SpeechRegion(int(a * SAMPLE_RATE), int(b * SAMPLE_RATE)) for a, b in self.spans]


@dataclass
class FakeVoice:
    """A voice that turns each character into 10 ms of tone, and remembers what it spoke."""

    engine: str = "fake"
    name: str = "beep"
    sample_rate: int = 8_000
    spoken: list[str] = field(default_factory=list)

    def speak(self, text: str) -> np.ndarray:
        self.spoken.append(text)
        return tone(0.01 * len(text), self.sample_rate)
