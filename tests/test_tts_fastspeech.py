import numpy as np
import pytest

from agent.config import TTSConfig
from agent.errors import ParlaError
from speech.tts import VoiceSpec
from speech.tts_fastspeech import chinese_text, load_voice, phones, read_integer, read_number

SYLLABLES = {"ni": ["n", "i"], "hao": ["h", "ao"], "shi": ["sh", "iii"], "er": ["^", "er"]}


@pytest.mark.parametrize(
    ("n", "spoken"),
    [(0, "零"), (7, "七"), (10, "十"), (12, "十二"), (20, "二十"), (105, "一百零五"),
     (110, "一百一十"), (1005, "一千零五"), (10000, "一万"), (120000, "十二万"),
     (20481736, "二千零四十八万一千七百三十六"), (123456789, "一二三四五六七八九")],
)  # fmt: skip
def test_integers_are_read_in_chinese(n, spoken):
    assert read_integer(n) == spoken


def test_decimals_and_leading_zeros_are_read_digit_by_digit():
    assert read_number("19.99") == "十九点九九"
    assert read_number("007") == "零零七"


def test_numbers_and_latin_letters_become_characters():
    assert chinese_text("运费 19.99 欧元，VT") == "运费 十九点九九 欧元，维提"


def test_phones_split_syllables_into_initial_and_tonal_final_with_pauses():
    assert phones("你好，是二。", SYLLABLES) == [
        "sil", "n", "i3", "#0", "h", "ao3", "#3", "sh", "iii4", "#0", "^", "er4", "sil"
    ]  # fmt: skip


def test_text_without_chinese_gives_only_silence():
    assert phones("!!! 🙂", SYLLABLES) == ["sil", "sil"]


def test_bad_options_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(ParlaError, match="speed or pitch"):
        load_voice(VoiceSpec.parse(f"fastspeech2:{tmp_path}?rate=2", "zh"), "zh")
    with pytest.raises(ParlaError, match="lacks fastspeech2.tflite"):
        load_voice(VoiceSpec.parse(f"fastspeech2:{tmp_path}", "zh"), "zh")


# --- the real bundled voice (slow) ------------------------------------------------------------


@pytest.mark.slow
def test_bundle_model_has_no_random_op_and_speaks_deterministically():
    from agent.convert.fastspeech2 import inference_model
    from agent.models import resolve_bundle

    folder = resolve_bundle("fastspeech2-zh")
    model = (folder / "fastspeech2.tflite").read_bytes()
    assert inference_model(model) == model  # no op draws random numbers any more
    voice = load_voice(VoiceSpec.parse("fastspeech2:bundle:fastspeech2-zh", "zh"), "zh")
    first, again = voice.speak("您好。"), voice.speak("您好。")
    assert len(first) > 12_000 and np.array_equal(first, again)
    assert voice.speak("!!!").size == 0


@pytest.mark.slow
def test_mandarin_round_trip_through_whisper():
    from agent.config import ASRConfig
    from agent.messages import AudioIn
    from speech.asr import load_transcriber
    from speech.audio import resample
    from speech.metrics import error_rates
    from speech.tts import load_synthesizer

    text = "退款会在五个工作日内退回到您的银行卡。"
    out = load_synthesizer(TTSConfig()).synthesize(text, "zh")
    assert (out.engine, out.sample_rate, out.fallback) == ("fastspeech2", 24_000, False)
    heard = load_transcriber(ASRConfig(), ("zh",)).transcribe(
        AudioIn(resample(out.samples, out.sample_rate, 16_000)), language="zh"
    )
    assert error_rates([text], [heard.text], ["zh"])["cer"] <= 0.25
