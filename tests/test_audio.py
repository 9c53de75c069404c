"""speech.audio: browser and phone formats decode to 16 kHz mono float32; bad input is refused."""

import io
import time
import wave

import numpy as np
import pytest
import soundfile as sf

from agent.config import ASRConfig
from agent.errors import ParlaError
from agent.messages import SpeechOut
from speech.audio import decode_audio, resample, wav_bytes, write_wav
from tests.speech_fakes import tone


def _dominant_hz(samples: np.ndarray, rate: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


def _encode_av(samples: np.ndarray, rate: int, fmt: str, codec: str) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (samples * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")]
)
def test_libsndfile_formats(tmp_path, fmt, subtype):
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, tone(1.0, 16_000), 16_000, format=fmt, subtype=subtype)
    audio = decode_audio(path)
    assert audio.sample_rate == 16_000 and audio.samples.dtype == np.float32
    assert audio.duration_s == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    ("fmt", "codec", "rate"),
    [("webm", "libopus", 48_000), ("ipod", "aac", 44_100), ("mp3", "libmp3lame", 44_100)],
)
def test_browser_and_phone_containers(fmt, codec, rate):
    data = _encode_av(tone(1.0, rate, freq=440), rate, fmt, codec)
    audio = decode_audio(data)
    assert audio.duration_s == pytest.approx(1.0, abs=0.1)
    assert _dominant_hz(audio.samples) == pytest.approx(440, abs=5)


def test_telephone_8khz_is_upsampled(tmp_path):
    path = tmp_path / "phone.wav"
    sf.write(path, tone(2.0, 8_000, freq=300), 8_000)
    audio = decode_audio(path)
    assert len(audio.samples) == 32_000
    assert _dominant_hz(audio.samples) == pytest.approx(300, abs=2)


def test_stereo_48khz_is_mixed_down_and_resampled(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = tone(1.0, 48_000, freq=500), tone(1.0, 48_000, freq=500)
    sf.write(path, np.stack([left, right], axis=1), 48_000)
    audio = decode_audio(path)
    assert audio.samples.ndim == 1 and len(audio.samples) == 16_000
    assert np.max(np.abs(audio.samples)) == pytest.approx(0.3, abs=0.02)


def test_zero_length_file_is_refused(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ParlaError, match="empty"):
        decode_audio(tmp_path / "empty.wav")


def test_text_file_renamed_wav_is_refused(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("Dear support, my order has not arrived.\n" * 20)
    with pytest.raises(ParlaError, match="not a readable audio file"):
        decode_audio(path)


def test_truncated_wav_is_refused():
    data = wav_bytes(SpeechOut(tone(0.5), 16_000, "x", "y"))[:30]
    with pytest.raises(ParlaError):
        decode_audio(data)


def test_two_hour_file_is_refused_from_its_header_quickly(tmp_path):
    path = tmp_path / "two-hours.wav"  # 7.2 MB: under the size limit, far over the length one
    sf.write(path, np.zeros(2 * 3600 * 1000, dtype=np.float32), 1000, subtype="PCM_U8")
    started = time.perf_counter()
    with pytest.raises(ParlaError, match="7200 s, over the 120 s limit"):
        decode_audio(path)
    assert time.perf_counter() - started < 5.0  # refused unread, not decoded for minutes


def test_stream_without_duration_is_cut_at_the_limit():
    data = _encode_av(tone(3.0, 48_000), 48_000, "webm", "libopus")
    with pytest.raises(ParlaError, match="limit"):
        decode_audio(data, ASRConfig(max_audio_s=1.0))


def test_oversized_upload_is_refused_unread():
    with pytest.raises(ParlaError, match="over the 0 MB limit"):
        decode_audio(b"x" * 2_000, ASRConfig(max_bytes=1_000))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParlaError, match="not found"):
        decode_audio(tmp_path / "nope.wav")


def test_resample_keeps_pitch():
    out = resample(tone(1.0, 22_050, freq=1000), 22_050, 16_000)
    assert len(out) == 16_000
    assert _dominant_hz(out) == pytest.approx(1000, abs=2)


def test_write_wav_round_trip(tmp_path):
    speech = SpeechOut(tone(0.5, 22_050), 22_050, "piper", "joe")
    path = write_wav(speech, tmp_path / "out" / "reply.wav")
    with wave.open(str(path)) as fh:
        assert (fh.getframerate(), fh.getnchannels(), fh.getsampwidth()) == (22_050, 1, 2)
        assert fh.getnframes() == len(speech.samples)
    assert not list(path.parent.glob(".*.part"))


def test_write_wav_to_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ParlaError, match="cannot write"):
        write_wav(SpeechOut(tone(0.1), 16_000, "x", "y"), blocker / "reply.wav")
