"""eval.tts: speed and round-trip intelligibility per language and voice."""

import argparse

import pytest

from agent.errors import ParlaError
from agent.messages import Transcript
from eval import tts as eval_tts
from speech import tts as tts_module
from tests.speech_fakes import FakeVoice


class Echo:
    """A listener that "hears" the last text the fake voice spoke."""

    def __init__(self, voices):
        self.voices = voices

    def transcribe(self, audio, language=None):
        spoken = self.voices[-1].spoken[-1] if self.voices[-1].spoken else ""
        return Transcript(spoken, language or "en", 0.9)


def test_eval_tts_measures_each_language_and_extra_voices(tmp_path, monkeypatch):
    voices = []

    def loader(spec, language):
        voices.append(FakeVoice(engine=spec.engine, name=spec.target or language))
        return voices[-1]

    monkeypatch.setattr(tts_module, "load_voice", loader)
    monkeypatch.setattr(eval_tts, "load_transcriber", lambda config, langs: Echo(voices))
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "Hello there.", "lang": "en"}\n{"text": "Hallo.", "lang": "de"}\n')
    args = argparse.Namespace(texts=str(texts), limit=5, lang=None, voice=["en=espeak-ng:en-us"])
    out = eval_tts.cmd_eval_tts(args)
    assert out["n"] == 2
    assert out["cer"] == {"en": 0.0, "de": 0.0}
    assert [(v["lang"], v["voice"], v["spoken_with"]) for v in out["voices"]] == [
        ("en", "piper:bundle:piper-joe-en", "piper:bundle:piper-joe-en"),
        ("de", "pico:de|espeak-ng:de+m1?rate=135&gap=3", "pico:de"),  # the first that loads
        ("en", "espeak-ng:en-us", "espeak-ng:en-us"),
    ]
    assert all(v["rtf"] >= 0 and v["first_audio_ms_p50"] >= 0 for v in out["voices"])


def test_bad_voice_option_and_texts(tmp_path):
    with pytest.raises(ParlaError, match="LANG=ENGINE:VOICE"):
        eval_tts.voices_to_run(eval_tts.TTSConfig(), ["en"], ["piper"])
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": 3}\n')
    with pytest.raises(ParlaError, match="needs string keys text and lang"):
        eval_tts.read_texts(path, 5)


def test_default_texts_cover_the_demo_languages():
    texts = eval_tts.default_texts(2)
    assert "en" in texts and all(len(v) <= 2 for v in texts.values())
