"""speech.asr: short windows, restricted language ID, guards against invented text, loading."""

import numpy as np
import pytest

from agent.config import ASRConfig
from agent.errors import ParlaError
from agent.messages import AudioIn
from speech import asr
from speech.asr import Decoded, WhisperTranscriber, clean_text, is_hallucination, load_engine
from tests.speech_fakes import FakeEngine, FakeVAD, tone

LANGS = ("en", "de", "zh")


def _transcriber(engine, spans, **config):
    config.setdefault("window_padding_s", 1.0)
    return WhisperTranscriber(engine, FakeVAD(spans), ASRConfig(**config), LANGS)


def _audio(seconds=10.0):
    return AudioIn(tone(seconds))


def test_encodes_only_the_spoken_audio_plus_padding():
    engine = FakeEngine(["hello there"])
    out = _transcriber(engine, [(1.0, 3.7)]).transcribe(_audio())
    assert out.text == "hello there" and not out.no_speech
    assert engine.windows == [4.0]  # ceil(2.7 s + 1 s padding), not Whisper's 30 s


def test_default_padding_and_the_30_second_cap():
    engine = FakeEngine(["hello"])
    transcriber = WhisperTranscriber(engine, FakeVAD([(0.0, 3.0), (5.0, 30.0)]), ASRConfig(), LANGS)
    transcriber.transcribe(_audio(31.0))
    assert engine.windows == [10.0, 30.0]


def test_full_window_when_short_windows_are_off():
    engine = FakeEngine(["hello"])
    _transcriber(engine, [(1.0, 3.0)], short_window=False).transcribe(_audio())
    assert engine.windows == [30.0]


def test_language_id_is_restricted_to_the_configured_languages():
    engine = FakeEngine(["hallo"], probs={"ja": 0.6, "de": 0.3, "en": 0.1})
    out = _transcriber(engine, [(0.0, 2.0)]).transcribe(_audio())
    assert out.language == "de"  # ja is likelier but not configured
    assert out.language_probability == pytest.approx(0.75)
    assert engine.decodes[0][0] == "de"


def test_given_language_skips_language_id():
    engine = FakeEngine(["hola"])
    out = _transcriber(engine, [(0.0, 2.0)]).transcribe(_audio(), language="zh")
    assert out.language == "zh" and out.language_probability == 1.0
    assert engine.decodes[0][2] == asr.PROMPTS["zh"]  # simplified-script prompt


class PromptEcho(FakeEngine):
    """Says the prompt back when given one (Whisper on speech it cannot make out)."""

    def decode(self, encoded, language, max_tokens, temperature=0.0, prompt=""):
        out = super().decode(encoded, language, max_tokens, temperature, prompt)
        return Decoded(prompt, out.avg_logprob, out.no_speech_prob) if prompt else out


def test_a_prompt_said_back_is_decoded_again_without_the_prompt():
    engine = PromptEcho(["你好，我想退货"], probs={"zh": 0.9})
    out = _transcriber(engine, [(0.0, 2.0)]).transcribe(_audio(), language="zh")
    assert out.text == "你好，我想退货"
    assert [d[2] for d in engine.decodes] == [asr.PROMPTS["zh"], ""]


def test_after_a_prompt_said_back_the_retries_go_without_the_prompt_too():
    loop = "以下" * 60  # the unprompted window loops, so the full window is tried next
    engine = PromptEcho([loop, "你好，我想退货"], probs={"zh": 0.9})
    out = _transcriber(engine, [(0.0, 2.0)]).transcribe(_audio(), language="zh")
    assert out.text == "你好，我想退货"
    assert [d[2] for d in engine.decodes] == [asr.PROMPTS["zh"], "", ""]


def test_no_speech_regions_means_empty_transcript_and_no_model_call():
    engine = FakeEngine(["thanks for watching"])
    out = _transcriber(engine, []).transcribe(_audio())
    assert out.text == "" and out.no_speech and engine.windows == []


def test_whisper_no_speech_rule_empties_the_turn():
    engine = FakeEngine(["you"], no_speech_prob=0.9, avg_logprob=-1.5)
    out = _transcriber(engine, [(0.0, 2.0)]).transcribe(_audio())
    assert out.text == "" and out.no_speech


@pytest.mark.parametrize("text", ["Thanks for watching!", "[Music]", "(coughs)", "♪ ♪"])
def test_invented_or_non_speech_text_is_dropped(text):
    out = _transcriber(FakeEngine([text]), [(0.0, 2.0)]).transcribe(_audio())
    assert out.text == "" and out.no_speech


def test_repetition_loop_retries_with_full_window_then_sampling():
    loop = "die Raten, " * 20
    engine = FakeEngine([loop, loop, loop])
    out = _transcriber(engine, [(0.0, 2.0)]).transcribe(_audio())
    assert engine.windows == [3.0, 30.0]
    assert [d[1] for d in engine.decodes] == [0.0, 0.0, 0.4, 0.8]
    assert out.text  # the least bad attempt is kept


def test_decoding_that_runs_to_the_token_budget_is_retried():
    class Budget(FakeEngine):
        def decode(self, encoded, language, max_tokens, temperature=0.0, prompt=""):
            out = super().decode(encoded, language, max_tokens, temperature, prompt)
            return Decoded(out.text, out.avg_logprob, out.no_speech_prob, truncated=encoded == 0)

    engine = Budget(["Podrías mirarme. Podrías mirarme como", "Podrías mirarme."])
    out = _transcriber(engine, [(0.0, 2.0)]).transcribe(_audio())
    assert engine.windows == [3.0, 30.0] and out.text == "Podrías mirarme."


def test_good_full_window_retry_is_taken():
    engine = FakeEngine(["ja ja ja ja ja ja ja ja ja ja ja ja ja ja ja ja ja ja", "Ja, gerne."])
    out = _transcriber(engine, [(0.0, 2.0)]).transcribe(_audio())
    assert out.text == "Ja, gerne."


def test_each_utterance_gets_its_own_language():
    class TwoLanguages(FakeEngine):
        def language_probs(self, encoded):
            return {"en": 0.95, "de": 0.05} if encoded == 0 else {"de": 0.9, "en": 0.1}

    engine = TwoLanguages(["Permission is hereby granted.", "Jeden, der diese Software erhält."])
    out = _transcriber(engine, [(0.0, 4.0), (6.0, 8.0)]).transcribe(_audio())
    assert [s.language for s in out.segments] == ["en", "de"]
    assert out.language == "en"  # the longer utterance
    assert out.text == "Permission is hereby granted. Jeden, der diese Software erhält."
    assert [d[0] for d in engine.decodes] == ["en", "de"]


def test_unsure_utterance_takes_the_clip_language():
    class Unsure(FakeEngine):
        def language_probs(self, encoded):
            return {"en": 0.9, "de": 0.1} if encoded == 0 else {"de": 0.55, "en": 0.45}

    engine = Unsure(["One.", "Two."])
    out = _transcriber(engine, [(0.0, 6.0), (8.0, 9.0)]).transcribe(_audio())
    assert [s.language for s in out.segments] == ["en", "en"]
    assert [d[0] for d in engine.decodes] == ["en", "en"]  # decoded in the clip's language too


def test_per_utterance_language_can_be_switched_off():
    class TwoLanguages(FakeEngine):
        def language_probs(self, encoded):
            return {"en": 0.95, "de": 0.05} if encoded == 0 else {"de": 0.9, "en": 0.1}

    engine = TwoLanguages(["One.", "Zwei."])
    transcriber = _transcriber(engine, [(0.0, 4.0), (6.0, 8.0)], per_utterance_language=False)
    out = transcriber.transcribe(_audio())
    assert [s.language for s in out.segments] == ["en", "en"]


def test_wrong_sample_rate_is_refused():
    with pytest.raises(ParlaError, match="16000"):
        _transcriber(FakeEngine(["x"]), [(0, 1)]).transcribe(AudioIn(tone(1.0, 8000), 8000))


def test_clean_text_drops_a_repeated_sentence_and_annotations():
    assert clean_text("And so. And so. [Music]") == "And so."
    assert clean_text("Podrías mirarme como a mí. Podrías mir") == "Podrías mirarme como a mí."
    assert clean_text("Yes, please. Yes.") == "Yes, please. Yes."  # too short to call a repeat
    assert clean_text("It costs 4.99 EUR. OK.") == "It costs 4.99 EUR. OK."
    assert clean_text("你好。你好。") == "你好。"
    assert is_hallucination("Thanks for watching!")
    assert not is_hallucination("Thank you, that helps.")


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ParlaError, match="unknown asr.backend 'kaldi'"):
        load_engine(ASRConfig(backend="kaldi"))


def test_transcriber_loads_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(asr, "load_engine", lambda c: calls.append(c) or FakeEngine(["hi"]))
    monkeypatch.setattr(asr, "_CACHE", {})
    config = ASRConfig(backend="fake-for-test")
    first = asr.load_transcriber(config, LANGS)
    assert asr.load_transcriber(config, LANGS) is first
    assert len(calls) == 1


def test_no_languages_is_a_clear_error():
    with pytest.raises(ParlaError, match="at least one language"):
        WhisperTranscriber(FakeEngine([]), FakeVAD([]), ASRConfig(), ())


def test_noise_through_real_vad_never_reaches_the_engine():
    engine = FakeEngine(["Thanks for watching!"])
    transcriber = asr.WhisperTranscriber(engine, asr.load_vad(ASRConfig()), ASRConfig(), LANGS)
    noise = np.random.default_rng(0).standard_normal(10 * 16_000).astype(np.float32) * 0.1
    out = transcriber.transcribe(AudioIn(noise))
    assert out.no_speech and engine.windows == []


# --- the real bundled Whisper base (slow) --------------------------------------------------

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def _real(backend: str):
    from tests.conftest import shared_path

    shared_path("audio", "jfk.flac")
    return asr.load_transcriber(ASRConfig(backend=backend), ("en", "zh", "es", "fr", "de", "pt"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["faster-whisper", "openai-whisper"])
def test_jfk_word_error_rate_at_most_5_percent(backend):
    from speech.audio import decode_audio
    from speech.metrics import error_rates
    from tests.conftest import shared_path

    transcriber = _real(backend)
    out = transcriber.transcribe(decode_audio(shared_path("audio", "jfk.flac")))
    assert out.language == "en" and out.language_probability > 0.9
    assert error_rates([JFK], [out.text], ["en"])["wer"] <= 0.05


@pytest.mark.slow
def test_jfk_as_phone_audio_and_as_stereo_48k(tmp_path):
    import soundfile as sf

    from speech.audio import decode_audio, resample
    from speech.metrics import error_rates
    from tests.conftest import shared_path

    transcriber = _real("faster-whisper")
    clean = decode_audio(shared_path("audio", "jfk.flac")).samples
    sf.write(tmp_path / "phone.wav", resample(clean, 16_000, 8_000), 8_000)
    stereo = resample(clean, 16_000, 48_000)
    sf.write(tmp_path / "stereo.wav", np.stack([stereo, stereo], axis=1), 48_000)
    for name in ("phone.wav", "stereo.wav"):
        out = transcriber.transcribe(decode_audio(tmp_path / name))
        assert error_rates([JFK], [out.text], ["en"])["wer"] <= 0.1, (name, out.text)


@pytest.mark.slow
def test_silence_noise_and_a_cough_give_empty_transcripts():
    from eval.bench_speech import noise_clips

    transcriber = _real("faster-whisper")
    for clip in noise_clips():
        out = transcriber.transcribe(clip.audio)
        assert out.text == "" and out.no_speech, clip.name


@pytest.mark.slow
def test_clip_with_two_languages_keeps_each_in_its_language():
    from speech.audio import decode_audio
    from tests.conftest import shared_path

    audio = decode_audio(shared_path("audio", "multilingual.mp3"))
    out = _real("faster-whisper").transcribe(audio)
    languages = [s.language for s in out.segments]
    assert languages[0] == "en" and languages[-1] == "de"
    assert "Software" in out.segments[-1].text and "software" in out.segments[0].text
