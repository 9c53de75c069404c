"""Voice-activity detection: where in a clip someone is speaking.

Whisper invents words when it is given silence or noise ("thanks for watching"), and it spends
the same encoder time on a pause as on speech. Finding the speech first fixes both: a clip with
no speech never reaches Whisper, and only the spoken stretches are encoded. The detector is the
Silero VAD network that ships inside faster-whisper (ONNX, no download); a level gate in front
of it answers digital silence without running any model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agent.config import ASRConfig
from agent.messages import SAMPLE_RATE

logger = logging.getLogger(__name__)

SILENCE_PEAK = 10 ** (-60 / 20)  # amplitude: a clip whose loudest sample is under -60 dBFS is empty


@dataclass(frozen=True)
class SpeechRegion:
    """A stretch of speech, in samples at 16 kHz."""

    start: int
    end: int

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


class VoiceActivityDetector(Protocol):
    def regions(self, samples: np.ndarray) -> list[SpeechRegion]:
        """The stretches of ``samples`` (16 kHz mono float32) that hold speech, in order."""
        ...


class SileroVAD:
    """Silero VAD (faster-whisper's bundled ONNX model) behind a digital-silence gate."""

    def __init__(self, config: ASRConfig) -> None:
        from faster_whisper.vad import VadOptions

        self.options = VadOptions(
            threshold=config.vad_threshold,
            min_speech_duration_ms=config.min_speech_ms,
            max_speech_duration_s=config.max_window_s - 2.0,  # each region fits one window
            min_silence_duration_ms=config.vad_min_silence_ms,
            speech_pad_ms=config.vad_pad_ms,
        )

    def regions(self, samples: np.ndarray) -> list[SpeechRegion]:
        from faster_whisper.vad import get_speech_timestamps

        if samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK:
            return []
        stamps = get_speech_timestamps(samples, vad_options=self.options)
        return [SpeechRegion(int(s["start"]), int(s["end"])) for s in stamps]


class NoVAD:
    """Treats the whole clip as speech (``asr.vad = false``): Whisper's own no-speech guard only."""

    def regions(self, samples: np.ndarray) -> list[SpeechRegion]:
        if samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK:
            return []
        return [SpeechRegion(0, int(samples.size))]


def load_vad(config: ASRConfig) -> VoiceActivityDetector:
    return SileroVAD(config) if config.vad else NoVAD()


def group_regions(
    regions: list[SpeechRegion], max_gap_s: float, max_len_s: float
) -> list[SpeechRegion]:
    """Merge regions separated by short pauses into utterances no longer than ``max_len_s``.

    A pause longer than ``max_gap_s`` starts a new utterance: it is where a speaker who switches
    language usually breathes, and each utterance gets its own language ID.
    """
    utterances: list[SpeechRegion] = []
    for region in regions:
        if utterances:
            last = utterances[-1]
            gap = (region.start - last.end) / SAMPLE_RATE
            merged = (region.end - last.start) / SAMPLE_RATE
            if gap <= max_gap_s and merged <= max_len_s:
                utterances[-1] = SpeechRegion(last.start, region.end)
                continue
        utterances.append(region)
    return utterances
