"""`parla transcribe`, `parla speak`, `parla eval tts`: one-line errors, JSON out."""

import json
import shutil

import pytest

from agent.cli import main


def test_transcribe_text_file_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    assert main(["transcribe", str(path), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable audio file" in err[0]


def test_speak_empty_text_is_a_one_line_error(tmp_path, capsys):
    assert main(["speak", "", "--out", str(tmp_path / "x.wav")]) == 2
    assert "empty" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
def test_speak_writes_a_wav_and_reports_the_fallback(tmp_path, capsys):
    out = tmp_path / "hola.wav"
    assert (
        main(
            [
                "speak",
                "Hola, ¿en qué puedo ayudarle?",
                "--lang",
                "es",
                "--out",
                str(out),
                "--voice",
                "espeak-ng:es",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["engine"] == "espeak-ng" and out.stat().st_size > 1_000
    assert result["audio_out"] == str(out)


def test_eval_tts_is_a_command():
    from agent.cli import build_parser

    args = build_parser().parse_args(["eval", "tts", "--lang", "en", "--limit", "2", "--json"])
    assert args.limit == 2 and args.lang == "en"
