"""A recording from the page's microphone (or an uploaded clip), checked before Whisper sees it.

Too short (a click), too long (a forgotten recorder), too big, or not audio at all: each is
refused with one sentence the page shows, and the conversation goes on.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from agent.config import ASRConfig, UIConfig
from agent.errors import ParlaError
from agent.messages import AudioIn

logger = logging.getLogger(__name__)


def read_recording(path: str | Path | None, asr: ASRConfig, ui: UIConfig) -> AudioIn:
    """Decode a recording within the page's limits, or raise ``ParlaError`` saying what is wrong."""
    if not path:
        raise ParlaError("No recording arrived. Press the microphone, speak, then press stop.")
    path = Path(path)
    limit_s = min(asr.max_audio_s, ui.max_audio_s)
    seconds = header_seconds(path)
    if seconds is not None and seconds > limit_s:
        raise ParlaError(too_long(seconds, limit_s))
    from speech.audio import decode_audio

    limits = replace(
        asr, max_audio_s=limit_s, max_bytes=min(asr.max_bytes, ui.max_upload_mb * 1_000_000)
    )
    audio = decode_audio(path, limits)
    if audio.duration_s < ui.min_audio_s:
        raise ParlaError(
            f"That recording lasted only {audio.duration_s:.1f} s, too short to hear a question. "
            "Press the microphone, say your question, then press stop."
        )
    return audio


def header_seconds(path: Path) -> float | None:
    """The length a file's header announces (no decoding), or None when it has no such header."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, TypeError, ValueError, OSError):
        return None
    return info.frames / info.samplerate if info.frames > 0 and info.samplerate else None


def too_long(seconds: float, limit_s: float) -> str:
    return (
        f"That recording lasts {_clock(seconds)}, longer than the {limit_s:.0f}-second limit "
        "for one message. Please ask in a shorter recording, or type your question."
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
