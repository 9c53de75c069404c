"""The ``espeak-ng`` engine: Debian's formant synthesiser, about 100 languages, no model files.

Robotic but intelligible, and the only voice a fresh offline machine has for most languages.
Debian's default Mandarin voice ``cmn`` turns characters into pinyin and then reads the pinyin
as English ("ni three hao three"); ``cmn-latn-pinyin`` reads the same pinyin as Mandarin, so it
is the espeak-ng voice for ``zh``. MBROLA diphone voices (``mb-br3``: Brazilian Portuguese)
speak through espeak-ng when Debian's ``mbrola`` and the voice's package are installed.
Options (``espeak-ng:fr-fr?rate=150&gap=1&pitch=50``): ``rate`` in words per minute (espeak's
default is 175), ``gap`` between words in 10 ms units, ``pitch`` 0-99.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np

from agent.errors import ParlaError
from speech.tts import VoiceSpec, system_binary

logger = logging.getLogger(__name__)

DEFAULT_VOICES = {  # language -> espeak-ng voice (see the module docstring for zh)
    "en": "en-us",
    "zh": "cmn-latn-pinyin",
    "es": "es",
    "fr": "fr",  # not "fr-fr": espeak-ng ignores +variants on "fr-fr"
    "de": "de",
    "pt": "pt",
}
OPTIONS = {"rate": "-s", "gap": "-g", "pitch": "-p", "amplitude": "-a"}  # option -> espeak flag
MBROLA_DIR = Path("/usr/share/mbrola")  # where Debian's mbrola-* voice packages put databases
TIMEOUT_S = 60.0  # one piece of text never takes this long; a hung process is killed


@lru_cache(maxsize=1)
def espeak_binary() -> str:
    return system_binary("espeak-ng", "apt-get install espeak-ng (see scripts/install.sh)")


@lru_cache(maxsize=1)
def installed_voices() -> frozenset[str]:
    """Voice names, files and language codes espeak-ng knows, MBROLA voices included."""
    names: set[str] = set()
    for listing in ("--voices", "--voices=mb"):  # the plain listing leaves out mb/ voices
        out = subprocess.run(
            [espeak_binary(), listing], capture_output=True, text=True, timeout=TIMEOUT_S
        ).stdout
        for line in out.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 5:  # language code, voice name, file (mb/mb-br1 is voice mb-br1)
                names.update({cols[1].lower(), cols[3].lower(), cols[4].split("/")[-1].lower()})
            names.update(code.lower() for code in re.findall(r"\(([\w-]+) \d+\)", line))  # (fr 8)
    return frozenset(names)


class EspeakVoice:
    engine = "espeak-ng"
    sample_rate = 22_050  # espeak-ng's output rate

    def __init__(self, voice: str, options: dict[str, str]) -> None:
        self.name = voice
        self.args = [espeak_binary(), "-v", voice, "-b", "1", "--stdout"]
        for key, value in options.items():
            if key not in OPTIONS or not value.isdigit():
                raise ParlaError(f"espeak-ng option {key}={value!r}: use {sorted(OPTIONS)}=number")
            self.args += [OPTIONS[key], value]

    def speak(self, text: str) -> np.ndarray:
        import soundfile as sf

        # Text goes on stdin, never on the command line: a reply starting with "-" stays text.
        run = subprocess.run(
            self.args, input=text.encode("utf-8"), capture_output=True, timeout=TIMEOUT_S
        )
        if run.returncode != 0 or not run.stdout:
            error = run.stderr.decode(errors="replace").strip()[:200]
            raise ParlaError(f"espeak-ng failed on voice {self.name}: {error}")
        samples, rate = sf.read(io.BytesIO(run.stdout), dtype="float32")
        self.sample_rate = int(rate)
        return samples.reshape(-1)


def load_voice(spec: VoiceSpec, language: str) -> EspeakVoice:
    voice = spec.target or DEFAULT_VOICES.get(language, language)
    voice = DEFAULT_VOICES.get(voice, voice)  # "espeak-ng:zh" means the zh default voice
    base = voice.split("+")[0].lower()  # "de+m3": a variant of voice "de"
    if base not in installed_voices():
        raise ParlaError(f"espeak-ng has no voice {voice!r} for language {language!r}")
    if base.startswith("mb-"):
        check_mbrola(base)
    return EspeakVoice(voice, spec.options)


def check_mbrola(voice: str) -> None:
    """espeak-ng lists every MBROLA voice it could drive; speaking needs mbrola and the database."""
    system_binary("mbrola", "Debian's mbrola package (see scripts/install.sh)")
    database = MBROLA_DIR / voice.removeprefix("mb-")
    if not database.is_dir():
        raise ParlaError(
            f"espeak-ng voice {voice} needs mbrola and {database} (see scripts/install.sh)"
        )
