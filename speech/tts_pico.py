"""The ``pico`` engine: SVOX Pico, a small offline synthesiser for German, Spanish and French.

Pico (Apache-2.0, Debian's ``libttspico-utils``, in the ``non-free`` section because its voice
data ships without sources) reads en-US, en-GB, de-DE, es-ES, fr-FR and it-IT with one voice
each. It is far more natural and intelligible than espeak-ng's formant voices for those languages
(round-trip CER through Whisper in the README's table) and synthesises ~250x faster than real
time. ``scripts/install.sh`` installs it; without it the table falls back to espeak-ng.
Voices: ``pico:de-DE``, or ``pico:de`` for the language's default.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from agent.errors import ParlaError
from speech.tts import VoiceSpec, system_binary

logger = logging.getLogger(__name__)

VOICES = {"en": "en-US", "de": "de-DE", "es": "es-ES", "fr": "fr-FR", "it": "it-IT"}
TIMEOUT_S = 60.0  # one piece of text never takes this long; a hung process is killed


@lru_cache(maxsize=1)
def pico_binary() -> str:
    return system_binary("pico2wave", "libttspico-utils, Debian non-free (see scripts/install.sh)")


class PicoVoice:
    engine = "pico"
    sample_rate = 16_000  # pico's output rate

    def __init__(self, voice: str) -> None:
        self.name = voice

    def speak(self, text: str) -> np.ndarray:
        import soundfile as sf

        with tempfile.TemporaryDirectory(prefix="parla-pico-") as tmp:
            wav = Path(tmp) / "out.wav"  # pico2wave writes only to a file named .wav
            # Text on stdin, never on the command line: a reply starting with "-" stays text.
            run = subprocess.run(
                [pico_binary(), "-l", self.name, "-w", str(wav)],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=TIMEOUT_S,
            )
            if run.returncode != 0 or not wav.exists():
                error = (run.stderr or run.stdout).decode(errors="replace").strip()[:200]
                raise ParlaError(f"pico failed on voice {self.name}: {error}")
            samples, rate = sf.read(wav, dtype="float32")
        self.sample_rate = int(rate)
        return samples.reshape(-1)


def load_voice(spec: VoiceSpec, language: str) -> PicoVoice:
    voice = spec.target or language
    voice = VOICES.get(voice, voice)  # "pico:de" means the German voice
    if voice not in VOICES.values():
        raise ParlaError(
            f"pico has no voice {voice!r} for {language!r}: it reads {sorted(VOICES.values())}"
        )
    if spec.options:
        raise ParlaError(f"pico voices take no options, got {sorted(spec.options)}")
    pico_binary()
    return PicoVoice(voice)
