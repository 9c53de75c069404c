import shutil

import numpy as np
import pytest

from agent.config import TTSConfig
from agent.errors import ParlaError
from speech import tts
from speech.tts import TableSynthesizer, VoiceSpec
from speech.tts_pico import load_voice

needs_pico = pytest.mark.skipif(
    shutil.which("pico2wave") is None,
    reason="SVOX Pico missing (scripts/install.sh installs libttspico-utils from Debian non-free)",
)


@needs_pico
@pytest.mark.parametrize(
    ("lang", "text"),
    [("de", "Ihre Bestellung kommt morgen."), ("es", "Su pedido llega mañana."),
     ("fr", "Votre commande arrive demain.")],
)  # fmt: skip
def test_default_voices_of_german_spanish_and_french_are_pico(lang, text):
    out = TableSynthesizer(TTSConfig()).synthesize(text, lang)
    assert (out.engine, out.sample_rate, out.fallback) == ("pico", 16_000, False)
    assert len(out.samples) > 8_000 and np.max(np.abs(out.samples)) > 0.05


@needs_pico
def test_text_starting_with_a_dash_is_spoken_not_parsed():
    voice = load_voice(VoiceSpec.parse("pico:de", "de"), "de")
    assert voice.name == "de-DE"
    assert len(voice.speak("-w /tmp/x.wav --lang en-US")) > 8_000


def test_unknown_voice_and_options_are_clear_errors():
    with pytest.raises(ParlaError, match="pico has no voice 'pt-BR'"):
        load_voice(VoiceSpec.parse("pico:pt-BR", "pt"), "pt")
    with pytest.raises(ParlaError, match="no options"):
        load_voice(VoiceSpec.parse("pico:de?rate=120", "de"), "de")


def test_missing_pico_falls_back_to_the_next_voice(monkeypatch):
    from speech import tts_pico

    real_which = tts.shutil.which
    monkeypatch.setattr(tts.shutil, "which", lambda n: None if n == "pico2wave" else real_which(n))
    tts_pico.pico_binary.cache_clear()
    try:
        out = TableSynthesizer(TTSConfig(voices={"de": "pico:de|espeak-ng:de"})).synthesize(
            "Hallo.", "de"
        )
    finally:
        tts_pico.pico_binary.cache_clear()
    assert out.engine == "espeak-ng" and out.fallback
    assert out.notes == ("pico:de not available: spoken with espeak-ng:de",)
