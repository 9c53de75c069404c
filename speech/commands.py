"""Handlers for ``parla transcribe`` and ``parla speak`` (the speech stage on its own)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from typing import Any

from agent.config import ASRConfig, TTSConfig
from speech.asr import load_transcriber
from speech.audio import decode_audio, write_wav
from speech.tts import load_synthesizer

logger = logging.getLogger(__name__)


def cmd_transcribe(args: argparse.Namespace) -> dict[str, Any]:
    config = ASRConfig()
    if getattr(args, "backend", None):
        config = dataclasses.replace(config, backend=args.backend)
    audio = decode_audio(args.audio, config)
    transcriber = load_transcriber(config)
    started = time.perf_counter()
    transcript = transcriber.transcribe(audio, language=getattr(args, "lang", None))
    seconds = time.perf_counter() - started
    return {
        "text": transcript.text,
        "language": transcript.language,
        "language_probability": transcript.language_probability,
        "no_speech": transcript.no_speech,
        "segments": [dataclasses.asdict(s) for s in transcript.segments],
        "duration_s": round(audio.duration_s, 2),
        "asr_ms": round(1000 * seconds, 1),
    }


def cmd_speak(args: argparse.Namespace) -> dict[str, Any]:
    config = TTSConfig()
    if getattr(args, "voice", None):
        config = dataclasses.replace(config, voices={**config.voices, args.lang: args.voice})
    started = time.perf_counter()
    speech = load_synthesizer(config).synthesize(args.text, args.lang)
    path = write_wav(speech, args.out)
    return {
        "audio_out": str(path),
        "engine": speech.engine,
        "voice": speech.voice,
        "fallback": speech.fallback,
        "notes": list(speech.notes),
        "duration_s": round(len(speech.samples) / speech.sample_rate, 2),
        "tts_ms": round(1000 * (time.perf_counter() - started), 1),
    }
