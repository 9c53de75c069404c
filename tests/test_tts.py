"""speech.tts: voice table with fallback, speakable pieces, streaming, bad input."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.config import TTSConfig
from agent.errors import ParlaError
from speech import tts
from speech.tts import TableSynthesizer, VoiceSpec, concatenate, load_synthesizer
from tests.speech_fakes import FakeVoice


class Loader:
    """Loads fake voices for the engines it is told can read a language."""

    def __init__(self, refuse: set[str] = frozenset()):
        self.refuse, self.loaded = refuse, []

    def __call__(self, spec: VoiceSpec, language: str):
        if spec.engine in self.refuse:
            raise ParlaError(f"{spec.engine} cannot read {language}")
        self.loaded.append((str(spec), language))
        return FakeVoice(engine=spec.engine, name=spec.target or language)


def _synth(loader=None, **config):
    config.setdefault("voices", {"en": "piper:bundle:piper-joe-en"})
    return TableSynthesizer(TTSConfig(**config), loader or Loader())


def test_configured_voice_is_used_and_loaded_once():
    loader = Loader()
    synth = _synth(loader)
    out = synth.synthesize("Hello there. How are you?", "en")
    synth.synthesize("Again.", "en")
    assert (out.engine, out.voice, out.fallback, out.notes) == (
        "piper",
        "bundle:piper-joe-en",
        False,
        (),
    )
    assert loader.loaded == [("piper:bundle:piper-joe-en", "en")]


def test_language_without_a_voice_uses_the_fallback_engine_and_says_so():
    out = _synth().synthesize("Bonjour.", "fr")
    assert out.engine == "espeak-ng" and out.voice == "fr" and out.fallback
    assert out.notes == ("no voice configured for fr: using espeak-ng (fr)",)


def test_language_no_engine_reads_falls_back_to_the_first_voice():
    out = _synth(Loader(refuse={"espeak-ng"})).synthesize("Hello.", "tlh")
    assert out.engine == "piper" and out.fallback
    assert "no voice reads tlh" in out.notes[0]


def test_a_preference_list_speaks_with_the_first_voice_that_loads_and_says_so():
    loader = Loader(refuse={"pico"})
    out = _synth(loader, voices={"de": "pico:de|espeak-ng:de+m1"}).synthesize("Hallo.", "de")
    assert (out.engine, out.voice, out.fallback) == ("espeak-ng", "de+m1", True)
    assert out.notes == ("pico:de not available: spoken with espeak-ng:de+m1",)
    first = _synth(voices={"de": "pico:de|espeak-ng:de"}).synthesize("Hallo.", "de")
    assert (first.engine, first.fallback, first.notes) == ("pico", False, ())


def test_a_preference_list_where_nothing_loads_raises_the_last_error():
    synth = _synth(Loader(refuse={"pico", "espeak-ng"}), voices={"de": "pico:de|espeak-ng:de"})
    with pytest.raises(ParlaError, match="espeak-ng cannot read de"):
        synth.synthesize("Hallo.", "de")


def test_latin_words_in_a_chinese_reply_are_read_by_the_english_voice_at_the_chinese_rate():
    voices = {}

    def loader(spec, language):
        rate = 16_000 if language == "zh" else 8_000
        voices[language] = FakeVoice(engine=spec.engine, name=language, sample_rate=rate)
        return voices[language]

    config = dict(voices={"zh": "fastspeech2:zh", "en": "piper:en"}, normalise_text=False)
    out = _synth(loader, **config).synthesize("作为 Voltia Plus 会员。", "zh")
    assert voices["zh"].spoken == ["作为 ", " 会员。"] and voices["en"].spoken == ["Voltia Plus"]
    chinese, english = 0.01 * (3 + 4) * 16_000, 0.01 * 11 * 8_000 * 2  # 8 kHz -> 16 kHz
    assert out.sample_rate == 16_000 and len(out.samples) == round(chinese + english)
    assert out.engine == "fastspeech2"


def test_the_other_voice_is_brought_to_the_native_voices_loudness_within_limits():
    quiet, loud = np.full(100, 0.1, np.float32), np.full(100, 0.15, np.float32)
    assert tts._level_match([quiet], [loud]) == pytest.approx(2 / 3)
    assert tts._level_match([quiet], [np.full(100, 0.9, np.float32)]) == 0.5  # at most halved
    assert tts._level_match([], [loud]) == 1.0  # nothing native to match


def test_latin_runs_split_a_mixed_script_text():
    assert tts.latin_runs("订单号 V T, 2 0 4 8，邮箱 a 点 com") == [
        ("订单号 ", False), ("V T", True), (", 2 0 4 8，邮箱 ", False), ("a", True),
        (" 点 ", False), ("com", True),
    ]  # fmt: skip
    assert tts.latin_runs("您好。") == [("您好。", False)]


def test_stream_yields_a_short_first_piece_then_sentences():
    synth = _synth(first_chunk_chars=30)
    text = "Your parcel left this morning, travels by express, and arrives tomorrow. Thanks."
    outs = list(synth.stream(text, "en"))
    voice = synth.voice_for("en").voice
    assert len(outs) == len(voice.spoken) >= 3
    assert len(voice.spoken[0]) <= 30 and voice.spoken[-1] == "Thanks."


def test_whole_reply_is_the_pieces_with_pauses():
    synth = _synth(pause_s=0.5)
    outs = list(synth.stream("One. Two.", "en"))
    whole = synth.synthesize("One. Two.", "en")
    gap = int(0.5 * outs[0].sample_rate)
    assert len(whole.samples) == sum(len(o.samples) for o in outs) + gap


def test_text_is_made_speakable_before_synthesis():
    synth = _synth(first_chunk_chars=250)
    synth.synthesize("Order VT-20481736 costs 4.99 EUR 🎉.", "en")
    assert synth.voice_for("en").voice.spoken == ["Order V T, 2 0 4 8, 1 7 3 6 costs 4 euros 99."]


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_is_refused(text):
    with pytest.raises(ParlaError, match="empty"):
        _synth().synthesize(text, "en")


def test_emoji_only_text_is_refused():
    with pytest.raises(ParlaError, match="no speakable words"):
        _synth().synthesize("👍🎉🚚", "en")


def test_five_thousand_characters_are_chunked_and_cut_at_max_chars():
    synth = _synth(max_chars=2_000)
    text = " ".join(f"Sentence number {i} says something useful." for i in range(120))
    assert len(text) > 5_000
    outs = list(synth.stream(text, "en"))
    spoken = synth.voice_for("en").voice.spoken
    assert len(outs) > 30 and max(len(s) for s in spoken) <= 250
    assert sum(len(s) for s in spoken) <= 2_000
    assert "reply spoken up to" in outs[0].notes[0]


def test_voice_spec_parsing():
    spec = VoiceSpec.parse("espeak-ng:de+m1?rate=150&gap=2", "de")
    assert (spec.engine, spec.target, spec.options) == (
        "espeak-ng",
        "de+m1",
        {"rate": "150", "gap": "2"},
    )
    assert VoiceSpec.parse("espeak-ng", "fr").target == "fr"
    assert VoiceSpec.parse("piper:/v/de.onnx", "de").target == "/v/de.onnx"
    with pytest.raises(ParlaError, match="ENGINE:VOICE"):
        VoiceSpec.parse("festival:kal", "en")


def test_concatenate_nothing_is_an_error():
    with pytest.raises(ParlaError):
        concatenate([])


def test_synthesizer_is_shared_per_process(monkeypatch):
    monkeypatch.setattr(tts, "_CACHE", {})
    config = TTSConfig(voices={"en": "espeak-ng:en-us"})
    assert load_synthesizer(config) is load_synthesizer(config)


def test_write_wav_is_importable_from_tts():
    from speech.audio import write_wav

    assert tts.write_wav is write_wav


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


@needs_espeak
def test_espeak_voice_speaks_every_demo_language():
    synth = TableSynthesizer(TTSConfig(voices={}))
    for lang, text in [
        ("de", "Guten Tag."),
        ("zh", "您好。"),
        ("es", "Hola."),
        ("fr", "Bonjour."),
        ("pt", "Olá."),
        ("en", "Hello."),
    ]:
        out = synth.synthesize(text, lang)
        assert out.engine == "espeak-ng" and out.sample_rate == 22_050
        assert len(out.samples) > 2_000 and np.max(np.abs(out.samples)) > 0.05


@needs_espeak
def test_espeak_text_starting_with_a_dash_is_spoken_not_parsed():
    from speech.tts_espeak import load_voice

    voice = load_voice(VoiceSpec.parse("espeak-ng:en-us", "en"), "en")
    assert len(voice.speak("--version -v xx")) > 1_000


@needs_espeak
def test_espeak_unknown_voice_and_bad_option_are_clear_errors():
    from speech.tts_espeak import load_voice

    with pytest.raises(ParlaError, match="no voice 'xx-nowhere'"):
        load_voice(VoiceSpec.parse("espeak-ng:xx-nowhere", "xx"), "xx")
    with pytest.raises(ParlaError, match="option"):
        load_voice(VoiceSpec.parse("espeak-ng:de?rate=fast", "de"), "de")


@needs_espeak
def test_espeak_lists_mbrola_voices_but_refuses_one_whose_database_is_missing(
    monkeypatch, tmp_path
):
    from speech import tts_espeak

    assert "mb-br3" in tts_espeak.installed_voices()
    monkeypatch.setattr(tts_espeak, "MBROLA_DIR", tmp_path)
    real_which = tts.shutil.which
    monkeypatch.setattr(
        tts.shutil, "which", lambda n: "/bin/mbrola" if n == "mbrola" else real_which(n)
    )
    with pytest.raises(ParlaError, match="needs mbrola and .*br3"):
        tts_espeak.load_voice(VoiceSpec.parse("espeak-ng:mb-br3", "pt"), "pt")
    monkeypatch.setattr(tts.shutil, "which", lambda n: None if n == "mbrola" else real_which(n))
    with pytest.raises(ParlaError, match="mbrola is not installed"):
        tts_espeak.load_voice(VoiceSpec.parse("espeak-ng:mb-br3", "pt"), "pt")


needs_mbrola_br3 = pytest.mark.skipif(
    shutil.which("mbrola") is None or not Path("/usr/share/mbrola/br3").is_dir(),
    reason="mbrola-br3 missing (scripts/install.sh installs it from Debian non-free)",
)


@needs_espeak
@needs_mbrola_br3
def test_mbrola_portuguese_voice_speaks():
    out = TableSynthesizer(TTSConfig()).synthesize("O seu pedido chega amanhã.", "pt")
    assert (out.engine, out.voice, out.fallback) == ("espeak-ng", "mb-br3", False)
    assert len(out.samples) > 10_000 and np.max(np.abs(out.samples)) > 0.05


def test_piper_voice_file_errors(tmp_path):
    from speech.tts_piper import voice_file

    with pytest.raises(ParlaError, match="not found"):
        voice_file(str(tmp_path / "none.onnx"))
    (tmp_path / "v.onnx").write_bytes(b"x")
    with pytest.raises(ParlaError, match="no v.onnx.json"):
        voice_file(str(tmp_path / "v.onnx"))


# --- the real bundled Piper voice, heard back by the real Whisper (slow) --------------------


@pytest.mark.slow
def test_piper_english_round_trip():
    from agent.config import ASRConfig
    from agent.messages import AudioIn
    from speech.asr import load_transcriber
    from speech.audio import resample
    from speech.metrics import error_rates

    synth = load_synthesizer(TTSConfig())
    text = "Your refund was sent today. It reaches your card within five business days."
    out = synth.synthesize(text, "en")
    assert (out.engine, out.sample_rate, out.fallback) == ("piper", 22_050, False)
    heard = load_transcriber(ASRConfig(), ("en",)).transcribe(
        AudioIn(resample(out.samples, out.sample_rate, 16_000)), language="en"
    )
    assert error_rates([text], [heard.text], ["en"])["cer"] <= 0.10
