"""Audio in and out: decode what browsers and phones send into 16 kHz mono float32, write WAVs.

Decoding tries libsndfile first (WAV, FLAC, Ogg Vorbis/Opus, MP3: strict, so a text file renamed
``.wav`` is refused), then FFmpeg's libraries through PyAV for containers libsndfile does not read
(WebM/Opus from browsers, M4A/AAC from phones). Size is checked before anything is read and
duration before anything is decoded (from the file's header), so a 2-hour upload is refused in
milliseconds; a stream whose header has no duration is cut off as soon as it passes the limit.
"""

from __future__ import annotations

import io
import logging
import math
import wave
from pathlib import Path

import numpy as np

from agent.config import ASRConfig
from agent.errors import ParlaError
from agent.messages import SAMPLE_RATE, AudioIn, SpeechOut

logger = logging.getLogger(__name__)

AudioSource = bytes | bytearray | memoryview | str | Path


def decode_audio(data: AudioSource, config: ASRConfig | None = None) -> AudioIn:
    """Decode an audio file (path or bytes) to 16 kHz mono float32, within the config's limits."""
    config = config or ASRConfig()
    name, raw = _read_source(data, config.max_bytes)
    samples = _decode_soundfile(raw, name, config.max_audio_s)
    if samples is None:
        samples = _decode_av(raw, name, config.max_audio_s)
    if samples.size == 0:
        raise ParlaError(f"{name} holds no audio samples")
    samples = np.clip(samples, -1.0, 1.0)  # lossy codecs overshoot full scale a little
    return AudioIn(samples=np.ascontiguousarray(samples, dtype=np.float32), sample_rate=SAMPLE_RATE)


def _read_source(data: AudioSource, max_bytes: int) -> tuple[str, bytes]:
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise ParlaError(f"audio file not found: {path}")
        size = path.stat().st_size
        _check_size(size, str(path), max_bytes)
        return str(path), path.read_bytes()
    raw = bytes(data)
    _check_size(len(raw), "the audio", max_bytes)
    return "the audio", raw


def _check_size(size: int, name: str, max_bytes: int) -> None:
    if size == 0:
        raise ParlaError(f"{name} is empty (0 bytes): record or upload some speech")
    if size > max_bytes:
        raise ParlaError(
            f"{name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit "
            "(asr.max_bytes): send a shorter recording"
        )


def _too_long(name: str, seconds: float, max_s: float) -> ParlaError:
    return ParlaError(
        f"{name} lasts {seconds:.0f} s, over the {max_s:.0f} s limit (asr.max_audio_s): "
        "send a shorter recording"
    )


def _decode_soundfile(raw: bytes, name: str, max_s: float) -> np.ndarray | None:
    """Samples via libsndfile, or None when libsndfile does not know the format."""
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(raw)) as fh:
            if fh.frames > 0 and fh.frames / fh.samplerate > max_s:
                raise _too_long(name, fh.frames / fh.samplerate, max_s)
            block = fh.read(dtype="float32", always_2d=True)
            rate = fh.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        logger.debug("libsndfile cannot read %s (%s); trying FFmpeg", name, exc)
        return None
    if len(block) / rate > max_s:  # formats whose header had no frame count
        raise _too_long(name, len(block) / rate, max_s)
    return resample(block.mean(axis=1), rate, SAMPLE_RATE)


def _decode_av(raw: bytes, name: str, max_s: float) -> np.ndarray:
    """Samples via FFmpeg (PyAV), resampled by FFmpeg itself to 16 kHz mono float."""
    import av

    try:
        with av.open(io.BytesIO(raw), mode="r") as container:
            if not container.streams.audio:
                raise ParlaError(f"{name} has no audio track: send a WAV, FLAC, MP3, Ogg or WebM")
            if container.duration and container.duration / 1e6 > max_s:
                raise _too_long(name, container.duration / 1e6, max_s)
            return _decode_av_stream(container, name, max_s)
    except av.FFmpegError as exc:
        raise ParlaError(
            f"{name} is not a readable audio file ({type(exc).__name__}): send a WAV, FLAC, "
            "MP3, Ogg/Opus, WebM or M4A recording"
        ) from None


def _decode_av_stream(container, name: str, max_s: float) -> np.ndarray:
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    limit = int(max_s * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    total = 0
    for frame in container.decode(audio=0):
        for out in resampler.resample(frame):
            piece = out.to_ndarray().reshape(-1)
            pieces.append(piece)
            total += piece.size
        if total > limit:  # no duration in the header (live WebM): stop at the limit
            raise _too_long(name, total / SAMPLE_RATE, max_s)
    for out in resampler.resample(None):
        pieces.append(out.to_ndarray().reshape(-1))
    if not pieces:
        raise ParlaError(f"{name} is not a readable audio file: no audio could be decoded")
    return np.concatenate(pieces).astype(np.float32)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased): exact for the usual 8/22.05/44.1/48 kHz rates."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate == target or samples.size == 0:
        return samples
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(target))
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


# --- audio out ----------------------------------------------------------------------------


def to_int16(samples: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2")


def wav_bytes(speech: SpeechOut) -> bytes:
    """A 16-bit mono WAV file of ``speech``, in memory (what a browser or phone plays)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(speech.sample_rate))
        out.writeframes(to_int16(speech.samples).tobytes())
    return buffer.getvalue()


def write_wav(speech: SpeechOut, path: str | Path) -> Path:
    """Write ``speech`` as a 16-bit mono WAV (``parla voice --out``); returns the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(wav_bytes(speech))
        tmp.replace(path)  # a reader never sees half a file
    except OSError as exc:
        raise ParlaError(f"cannot write {path} ({exc.strerror})") from None
    return path
