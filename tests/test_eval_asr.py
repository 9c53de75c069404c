"""eval.asr: the manifest format, the contract's JSON keys, per-language numbers."""

import argparse
import json

import pytest
import soundfile as sf

from agent.errors import ParlaError
from agent.messages import AudioIn, Transcript
from eval import asr as eval_asr
from tests.speech_fakes import tone


class Scripted:
    """Hears the words it is told for each clip length (seconds -> (text, language))."""

    def __init__(self, script):
        self.script = script

    def transcribe(self, audio: AudioIn, language=None) -> Transcript:
        text, lang = self.script[round(audio.duration_s)]
        return Transcript(text, lang, 0.9, duration_s=audio.duration_s)


def _manifest(tmp_path, rows):
    for name, seconds in {"a.wav": 1, "b.wav": 2, "c.wav": 3}.items():
        sf.write(tmp_path / name, tone(seconds), 16_000)
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


def test_eval_asr_reports_the_contract_keys(tmp_path, monkeypatch):
    path = _manifest(
        tmp_path,
        [
            {"audio": "a.wav", "text": "one two three four", "lang": "en"},
            {"audio": "b.wav", "text": "eins zwei", "lang": "de"},
            {"audio": "c.wav", "text": "我的订单", "lang": "zh"},
        ],
    )
    script = {1: ("one two tree four", "en"), 2: ("eins zwei", "en"), 3: ("我的定单", "zh")}
    monkeypatch.setattr(eval_asr, "load_transcriber", lambda config, langs: Scripted(script))
    report = tmp_path / "report"
    out = eval_asr.cmd_eval_asr(argparse.Namespace(manifest=str(path), report=str(report)))
    assert {"n", "wer", "cer", "language_accuracy", "rtf"} <= set(out)
    assert out["n"] == 3
    assert out["language_accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert out["per_language"]["en"]["wer"] == 0.25
    assert out["per_language"]["de"]["language_accuracy"] == 0.0
    assert out["per_language"]["zh"]["cer"] == 0.25
    assert len((report / "asr_clips.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"audio": "a.wav", "text": "x"}\n', "needs string keys audio, text and lang"),
        ("not json\n", "not valid JSON"),
        ("\n", "holds no clips"),
    ],
)
def test_bad_manifests_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "m.jsonl"
    path.write_text(content)
    with pytest.raises(ParlaError, match=message):
        eval_asr.read_manifest(path)


def test_missing_manifest_and_missing_audio(tmp_path, monkeypatch):
    with pytest.raises(ParlaError, match="not found"):
        eval_asr.read_manifest(tmp_path / "none.jsonl")
    path = tmp_path / "m.jsonl"
    path.write_text('{"audio": "gone.wav", "text": "x", "lang": "en"}\n')
    monkeypatch.setattr(eval_asr, "load_transcriber", lambda config, langs: Scripted({}))
    with pytest.raises(ParlaError, match="audio file not found"):
        eval_asr.cmd_eval_asr(argparse.Namespace(manifest=str(path), report=None))


def test_command_line_knobs_reach_the_config():
    args = argparse.Namespace(backend="openai-whisper", model=None, beam_size=5, full_window=True)
    config = eval_asr.config_from_args(args)
    assert (config.backend, config.beam_size, config.short_window) == ("openai-whisper", 5, False)


@pytest.mark.slow
def test_synthetic_manifest_end_to_end(tmp_path):
    manifest = eval_asr.write_synthetic_manifest(tmp_path, per_language=1)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert {r["lang"] for r in rows} >= {"en", "de", "zh"}
    out = eval_asr.cmd_eval_asr(argparse.Namespace(manifest=str(manifest), report=None))
    assert out["n"] == len(rows) and set(out["per_language"]) == {r["lang"] for r in rows}
    assert 0.0 <= out["cer"] and out["rtf"] > 0
