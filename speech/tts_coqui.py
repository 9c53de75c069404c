"""The ``coqui`` engine: a user's own Coqui TTS model (VITS and friends), optional extra ``coqui``.

No Coqui voice ships in any package, so this engine only serves a model the user brings:
``coqui:/models/my-voice`` (a folder with ``model.pth`` and ``config.json``) or
``coqui:/models/my-voice/model.pth``. Options: ``speaker`` and ``language`` for multi-speaker or
multilingual models. Install with ``pip install 'parla[coqui]'``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import ParlaError
from speech.tts import VoiceSpec

logger = logging.getLogger(__name__)

EXTRA_HINT = "the coqui engine needs the optional extra `coqui`: pip install 'parla[coqui]'"


class CoquiVoice:
    engine = "coqui"

    def __init__(self, synthesizer: Any, name: str, options: dict[str, str]) -> None:
        self.synthesizer = synthesizer
        self.name = name
        self.sample_rate = int(synthesizer.output_sample_rate)
        wanted = (("speaker_name", "speaker"), ("language_name", "language"))
        self.options = {key: options[opt] for key, opt in wanted if opt in options}

    def speak(self, text: str) -> np.ndarray:
        # Parla already cut the text into pieces; Coqui's own sentence splitter stays off.
        wav = self.synthesizer.tts(text, split_sentences=False, **self.options)
        return np.asarray(wav, dtype=np.float32).reshape(-1)


def model_files(target: str) -> tuple[Path, Path]:
    """(checkpoint, config.json) for a model folder or a checkpoint path."""
    path = Path(target).expanduser()
    if path.is_dir():
        checkpoints = sorted(path.glob("*.pth"))
        if len(checkpoints) != 1:
            raise ParlaError(f"{path} should hold exactly one Coqui .pth checkpoint")
        path = checkpoints[0]
    if not path.is_file():
        raise ParlaError(f"Coqui model {target} not found")
    config = path.with_name("config.json")
    if not config.is_file():
        raise ParlaError(f"Coqui model {path} has no config.json beside it")
    return path, config


def load_voice(spec: VoiceSpec, language: str) -> CoquiVoice:
    checkpoint, config = model_files(spec.target)
    try:
        from TTS.utils.synthesizer import Synthesizer
    except ImportError as exc:  # coqui-tts absent, or present without torchaudio/torchcodec
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ParlaError(f"{EXTRA_HINT} ({first_line})") from None
    logger.info("loading Coqui model %s for %s", checkpoint, language)
    try:
        synthesizer = Synthesizer(tts_checkpoint=str(checkpoint), tts_config_path=str(config))
    except Exception as exc:  # noqa: BLE001 - a broken checkpoint or config: one message
        raise ParlaError(
            f"cannot load Coqui model {checkpoint} ({type(exc).__name__}: {exc})"
        ) from None
    return CoquiVoice(synthesizer, checkpoint.parent.name, spec.options)
