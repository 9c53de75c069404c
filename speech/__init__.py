"""The speech stage: audio in (``decode_audio``), Whisper (``load_transcriber``), voices out
(``load_synthesizer``), and WAV writing (``write_wav``).

Heavy libraries load only when a function that needs them is called, so ``import speech`` is
cheap. Everything here loads its model once per process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from speech.asr import Transcriber, load_transcriber
    from speech.audio import decode_audio, wav_bytes, write_wav
    from speech.tts import Synthesizer, load_synthesizer

__all__ = [
    "Synthesizer",
    "Transcriber",
    "decode_audio",
    "load_synthesizer",
    "load_transcriber",
    "wav_bytes",
    "write_wav",
]
_WHERE = {
    "Transcriber": "speech.asr",
    "load_transcriber": "speech.asr",
    "decode_audio": "speech.audio",
    "wav_bytes": "speech.audio",
    "write_wav": "speech.audio",
    "Synthesizer": "speech.tts",
    "load_synthesizer": "speech.tts",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'speech' has no attribute {name!r}")
