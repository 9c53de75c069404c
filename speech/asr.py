"""Speech to text: Whisper behind one ``Transcriber.transcribe(audio, language)`` method.

One turn goes: voice-activity detection -> utterances (speech split at long pauses) -> for each
utterance, encode only the spoken audio (plus some silence) instead of Whisper's fixed
30-second window -> language ID restricted to the configured languages -> greedy or beam
decoding -> guards against invented text. The Whisper implementation is a ``WhisperEngine``
chosen by name: ``faster-whisper`` (CTranslate2, int8 on CPU) or ``openai-whisper`` (PyTorch).
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import threading
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agent.config import LANGUAGES, ASRConfig
from agent.errors import ParlaError
from agent.messages import SAMPLE_RATE, AudioIn, Segment, Transcript
from agent.threads import one_blas_thread
from speech.vad import SpeechRegion, VoiceActivityDetector, group_regions, load_vad

logger = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {  # name -> "module:loader"; imported only when chosen
    "faster-whisper": "speech.whisper_ct2:load_engine",
    "openai-whisper": "speech.whisper_torch:load_engine",
}
CONFIDENT_LANGUAGE = 0.8  # an utterance keeps its own language only when this sure of it
LOOP_RATIO = 2.4  # gzip compression ratio above which a text is a repetition loop
PROMPTS = {  # previous-text prompts per language: Whisper copies their script and style
    "zh": "以下是普通话的句子。",  # simplified characters, as the demo's data and users write
}
TOKENS_PER_SECOND = 12  # decoding budget per second of speech (repetition loops stop early)
FALLBACK_TEMPERATURES = (0.4, 0.8)  # sampled retries when decoding loops (Whisper's own remedy;
# two retries bound the worst-case latency)

# Whole-utterance texts Whisper is known to invent on noise (subtitle credits in its training
# data). Dropped only when they are all an utterance says: no caller says just this.
HALLUCINATIONS = frozenset(
    {
        "thanks for watching",
        "thank you for watching",
        "thanks for watching and see you next time",
        "please subscribe",
        "subtitles by the amaraorg community",
        "untertitel im auftrag des zdf 2017",
        "untertitel im auftrag des zdf 2020",
        "untertitel der amaraorg community",
        "sous-titres réalisés para la communauté damaraorg",
        "sous-titrage st 501",
        "subtítulos realizados por la comunidad de amaraorg",
        "legendas pela comunidade amaraorg",
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "字幕由amaraorg社区提供",
    }
)
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫♬]+")  # [Music] (coughs) *sigh* ♪


@dataclass(frozen=True)
class Decoded:
    """One utterance as a Whisper engine decoded it."""

    text: str
    avg_logprob: float  # mean log-probability of the generated tokens
    no_speech_prob: float  # Whisper's probability that the window held no speech
    truncated: bool = False  # stopped by the token budget, not by Whisper: a repetition loop


class WhisperEngine(Protocol):
    """One Whisper implementation: encode a window, identify its language, decode it."""

    name: str

    def encode(self, samples: np.ndarray, window_s: float) -> Any:
        """Encoder output for ``samples`` zero-padded to a ``window_s``-second window."""
        ...

    def language_probs(self, encoded: Any) -> dict[str, float]:
        """Probability of every language Whisper knows (ISO codes) for an encoded window."""
        ...

    def decode(
        self,
        encoded: Any,
        language: str,
        max_tokens: int,
        temperature: float = 0.0,
        prompt: str = "",
    ) -> Decoded:
        """Text of an encoded window in ``language`` (greedy/beam at 0, sampled above).

        ``prompt`` is text Whisper takes as what came before (it steers script and style).
        """
        ...


class Transcriber(Protocol):
    def transcribe(self, audio: AudioIn, language: str | None = None) -> Transcript:
        """What was said in ``audio``; ``language`` skips language ID when given."""
        ...


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / max(1, len(zlib.compress(raw)))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")


def clean_text(text: str) -> str:
    """Remove sound annotations ([Music], (coughs)) and a sentence repeated back to back.

    Whisper on a short window sometimes says the last sentence again, whole or cut off; a caller
    repeating a sentence immediately is rarer than that, so the repeat is dropped.
    """
    text = " ".join(_ANNOTATION.sub(" ", text).split())
    kept: list[str] = []
    for sentence in filter(None, _SENTENCE_END.split(text)):
        words, previous = _comparable(sentence), _comparable(kept[-1]) if kept else ""
        if words and (words == previous or (len(words) >= 8 and previous.startswith(words))):
            continue  # the same sentence again, or its start cut off by the token budget
        kept.append(sentence)
    return _join(kept)


def _comparable(text: str) -> str:
    kept = [c for c in text.lower() if not unicodedata.category(c).startswith("P")]
    return " ".join("".join(kept).split())


def is_hallucination(text: str) -> bool:
    return _comparable(text) in HALLUCINATIONS


def echoes_prompt(text: str, prompt: str) -> bool:
    """The decoded text starts by repeating the prompt it was given."""
    said, given = _comparable(text), _comparable(prompt)
    return bool(given) and said.startswith(given)


class WhisperTranscriber:
    """VAD + short windows + restricted language ID + guards, over any ``WhisperEngine``."""

    def __init__(
        self,
        engine: WhisperEngine,
        vad: VoiceActivityDetector,
        config: ASRConfig,
        languages: tuple[str, ...] = LANGUAGES,
    ) -> None:
        if not languages:
            raise ParlaError("asr needs at least one language (language.languages is empty)")
        self.engine = engine
        self.vad = vad
        self.config = config
        self.languages = tuple(languages)
        self._lock = threading.Lock()  # one engine call at a time: it already uses every core

    def transcribe(self, audio: AudioIn, language: str | None = None) -> Transcript:
        if audio.sample_rate != SAMPLE_RATE:
            raise ParlaError(f"audio must be {SAMPLE_RATE} Hz (use speech.audio.decode_audio)")
        samples = np.asarray(audio.samples, dtype=np.float32)
        cfg = self.config
        regions = self.vad.regions(samples)
        utterances = group_regions(regions, cfg.utterance_gap_s, cfg.max_window_s - 2.0)
        with self._lock:
            heard = [self._listen(samples[u.start : u.end], u) for u in utterances]
            weights = self._language_weights(heard)
            main = language or max(weights, key=weights.__getitem__)
            pieces = [self._decode(h, language or self._own_language(h, main)) for h in heard]
        prob = 1.0 if language else weights[main] / max(1e-9, sum(weights.values()))
        return self._assemble(pieces, main, prob, audio.duration_s)

    def _listen(self, clip: np.ndarray, region: SpeechRegion) -> _Heard:
        """Encode one utterance in a window as long as its speech, and identify its language."""
        window = self._window(clip.size / SAMPLE_RATE)
        encoded = self.engine.encode(clip, window)
        probs = self._restricted(self.engine.language_probs(encoded))
        return _Heard(region, clip, window, encoded, probs)

    def _own_language(self, heard: _Heard, main: str) -> str:
        """An utterance keeps its own language only when language ID is sure of it."""
        own = max(heard.probs, key=heard.probs.__getitem__)
        sure = heard.probs[own] >= CONFIDENT_LANGUAGE
        return own if sure and self.config.per_utterance_language else main

    def _decode(self, heard: _Heard, language: str) -> _Piece:
        budget = int(20 + TOKENS_PER_SECOND * heard.clip.size / SAMPLE_RATE)
        prompt = PROMPTS.get(language, "")
        encoded = heard.encoded
        decoded = self.engine.decode(encoded, language, budget, prompt=prompt)
        if prompt and echoes_prompt(decoded.text, prompt):
            # On speech it cannot make out, Whisper may say the prompt back ("以下是普通话的句子"):
            # that is not what the caller said, so this utterance (retries too) goes without it.
            prompt = ""
            decoded = self.engine.decode(encoded, language, budget)
        if self._looks_wrong(decoded) and heard.window < self.config.max_window_s:
            # Short windows occasionally loop; the full window is the first safety net.
            logger.debug("short window looped (%r); retrying with the full window", decoded)
            encoded = self.engine.encode(heard.clip, self.config.max_window_s)
            decoded = _better(decoded, self.engine.decode(encoded, language, budget, prompt=prompt))
        for temperature in FALLBACK_TEMPERATURES:
            if not self._looks_wrong(decoded):
                break
            retry = self.engine.decode(encoded, language, budget, temperature, prompt)
            decoded = _better(decoded, retry)
        return _Piece(heard.region, decoded, language)

    def _window(self, duration: float) -> float:
        cfg = self.config
        if not cfg.short_window:
            return cfg.max_window_s
        return float(min(cfg.max_window_s, math.ceil(duration + cfg.window_padding_s)))

    def _restricted(self, probs: dict[str, float]) -> dict[str, float]:
        """Language probabilities renormalised over the configured languages only."""
        kept = {code: float(probs.get(code, 0.0)) for code in self.languages}
        total = sum(kept.values())
        if total <= 0.0:
            return {code: 1.0 / len(kept) for code in kept}
        return {code: p / total for code, p in kept.items()}

    def _looks_wrong(self, d: Decoded) -> bool:
        """A repetition loop ("die Raten, die Raten, ..." or a run to the budget): retry.

        A low log-probability alone is not retried: on a short turn the retries would cost
        more than they win, and the no-speech rule already drops low-probability silence.
        """
        return d.truncated or compression_ratio(d.text) > self.config.compression_ratio_threshold

    def _is_silence(self, d: Decoded) -> bool:
        cfg = self.config
        if d.no_speech_prob > cfg.no_speech_threshold and d.avg_logprob < cfg.log_prob_threshold:
            return True
        text = clean_text(d.text)
        return not text or is_hallucination(text)

    def _assemble(
        self, pieces: list[_Piece], main: str, probability: float, duration_s: float
    ) -> Transcript:
        spoken = [p for p in pieces if not self._is_silence(p.decoded)]
        segments = tuple(p.segment() for p in spoken)
        text = _join([s.text for s in segments])
        return Transcript(
            text=text,
            language=main,
            language_probability=round(probability, 4),
            segments=segments,
            no_speech=not text,
            duration_s=duration_s,
        )

    def _language_weights(self, heard: list[_Heard]) -> dict[str, float]:
        """Duration-weighted language probabilities over the clip (uniform for an empty clip)."""
        weights = dict.fromkeys(self.languages, 0.0)
        for h in heard:
            for code, prob in h.probs.items():
                weights[code] += prob * h.region.duration_s
        if not any(weights.values()):
            weights = dict.fromkeys(self.languages, 1.0 / len(self.languages))
        return weights


def _better(a: Decoded, b: Decoded) -> Decoded:
    """The attempt without a repetition loop, else the more probable one."""
    loops_a = a.truncated or compression_ratio(a.text) > LOOP_RATIO
    loops_b = b.truncated or compression_ratio(b.text) > LOOP_RATIO
    if loops_a != loops_b:
        return b if loops_a else a
    return b if b.avg_logprob > a.avg_logprob else a


@dataclass(frozen=True, eq=False)
class _Heard:
    """An utterance encoded and language-identified, not yet decoded."""

    region: SpeechRegion
    clip: np.ndarray
    window: float
    encoded: Any
    probs: dict[str, float]


@dataclass(frozen=True)
class _Piece:
    region: SpeechRegion
    decoded: Decoded
    language: str

    def segment(self) -> Segment:
        return Segment(
            start_s=round(self.region.start / SAMPLE_RATE, 2),
            end_s=round(self.region.end / SAMPLE_RATE, 2),
            text=clean_text(self.decoded.text),
            language=self.language,
        )


def _is_cjk(char: str) -> bool:
    return bool(char) and "\u3000" <= char <= "\u9fff"


def _join(texts: list[str]) -> str:
    """Utterances joined by spaces, except between two Chinese/Japanese characters."""
    out = ""
    for text in texts:
        glue = "" if not out or (_is_cjk(out[-1]) and _is_cjk(text[:1])) else " "
        out += glue + text
    return out


# --- loading: once per process ----------------------------------------------------------

_CACHE: dict[tuple[ASRConfig, tuple[str, ...]], WhisperTranscriber] = {}
_CACHE_LOCK = threading.Lock()


def load_engine(config: ASRConfig) -> WhisperEngine:
    """The Whisper engine named by ``config.backend`` (imported only when chosen)."""
    target = BACKENDS.get(config.backend)
    if target is None:
        known = ", ".join(sorted(BACKENDS))
        raise ParlaError(f"unknown asr.backend {config.backend!r}; choose one of: {known}")
    module_name, func = target.split(":")
    loader: Callable[[ASRConfig], WhisperEngine] = getattr(
        importlib.import_module(module_name), func
    )
    return loader(config)


def load_transcriber(
    config: ASRConfig | None = None, languages: tuple[str, ...] = LANGUAGES
) -> Transcriber:
    """The process-wide transcriber for ``config`` (the model loads on the first call only)."""
    config = config or ASRConfig()
    key = (config, tuple(languages))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = WhisperTranscriber(load_engine(config), load_vad(config), config, key[1])
            one_blas_thread()  # the mel features' numpy products (see agent.threads)
        return _CACHE[key]


def resolve_threads(config: ASRConfig) -> int:
    import os

    return config.cpu_threads if config.cpu_threads > 0 else max(1, os.cpu_count() or 1)
