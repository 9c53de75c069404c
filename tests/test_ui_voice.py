"""Recordings from the page: a click, a forgotten recorder, not audio, nothing at all."""

from __future__ import annotations

import pytest

from agent.config import ASRConfig, UIConfig
from agent.errors import ParlaError
from tests.ui_fakes import write_wav
from ui.voice import header_seconds, read_recording

ASR, UI = ASRConfig(), UIConfig()


def test_a_normal_recording_is_decoded_at_16_khz(tmp_path):
    audio = read_recording(write_wav(tmp_path / "q.wav", 2.0, rate=48_000), ASR, UI)
    assert audio.sample_rate == 16_000 and abs(audio.duration_s - 2.0) < 0.01


def test_a_click_is_too_short(tmp_path):
    with pytest.raises(ParlaError, match=r"lasted only 0\.2 s, too short"):
        read_recording(write_wav(tmp_path / "click.wav", 0.2), ASR, UI)


def test_ten_minutes_are_refused_from_the_header_alone(tmp_path):
    path = write_wav(tmp_path / "long.wav", 600.0, rate=8_000)
    assert header_seconds(path) == pytest.approx(600.0)
    with pytest.raises(ParlaError, match="lasts 10 min 00 s, longer than the 60-second limit"):
        read_recording(path, ASR, UI)


def test_the_stricter_of_the_two_limits_applies(tmp_path):
    path = write_wav(tmp_path / "q.wav", 5.0)
    with pytest.raises(ParlaError, match="4-second limit"):
        read_recording(path, ASRConfig(max_audio_s=4.0), UI)


def test_not_audio_is_refused(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are notes, not sound")
    with pytest.raises(ParlaError, match="not a readable audio file"):
        read_recording(path, ASR, UI)


def test_nothing_recorded_is_refused():
    with pytest.raises(ParlaError, match="No recording arrived"):
        read_recording(None, ASR, UI)
