"""The ``piper`` engine: neural VITS voices exported to ONNX (Piper), any voice file by path.

``piper:bundle:piper-joe-en`` is the bundled English voice; ``piper:/voices/xx.onnx`` loads
any Piper voice a user adds (its ``.onnx.json`` beside it). Options: ``length_scale`` (> 1 is
slower speech), ``speaker`` (multi-speaker voices).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from agent.errors import ParlaError
from agent.models import ModelSpec
from speech.tts import VoiceSpec

logger = logging.getLogger(__name__)


class PiperTTSVoice:
    engine = "piper"

    def __init__(self, voice, name: str, options: dict[str, str]) -> None:
        from piper import SynthesisConfig

        self.voice = voice
        self.name = name
        self.sample_rate = int(voice.config.sample_rate)
        try:
            self.syn = SynthesisConfig(
                length_scale=float(options["length_scale"]) if "length_scale" in options else None,
                speaker_id=int(options["speaker"]) if "speaker" in options else None,
            )
        except ValueError:
            raise ParlaError(f"piper options {options} must be numbers") from None

    def speak(self, text: str) -> np.ndarray:
        chunks = [c.audio_float_array for c in self.voice.synthesize(text, syn_config=self.syn)]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32).reshape(-1)


def voice_file(target: str) -> Path:
    """The ``.onnx`` file for a bundle name, a folder holding one, or a file path."""
    path = ModelSpec(target).resolve() if target.startswith("bundle:") else Path(target)
    path = path.expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.onnx"))
        if len(found) != 1:
            raise ParlaError(f"{path} should hold exactly one Piper .onnx voice")
        path = found[0]
    if not path.is_file():
        raise ParlaError(f"Piper voice {target} not found")
    if not Path(f"{path}.json").is_file():
        raise ParlaError(f"Piper voice {path} has no {path.name}.json config beside it")
    return path


def load_voice(spec: VoiceSpec, language: str) -> PiperTTSVoice:
    try:
        from piper import PiperVoice
    except ImportError:
        raise ParlaError("piper-tts is not installed: pip install piper-tts") from None
    path = voice_file(spec.target)
    logger.info("loading Piper voice %s for %s", path.name, language)
    try:
        voice = PiperVoice.load(path)
    except Exception as exc:  # noqa: BLE001 - a corrupt file or config: one message
        raise ParlaError(f"cannot load Piper voice {path} ({type(exc).__name__}: {exc})") from None
    return PiperTTSVoice(voice, path.stem, spec.options)
