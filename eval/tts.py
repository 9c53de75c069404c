"""``parla eval tts``: how fast and how intelligible each language's voice is.

For every language (and every extra voice given with ``--voice LANG=ENGINE:VOICE``) it
synthesises replies, times the first streamed piece (what a caller waits for) and the whole
reply (real-time factor = synthesis time / audio duration), then transcribes the audio back with
the ASR stage in the expected language and scores the character error rate against the text:
a machine listener's intelligibility. Texts default to the demo's reference answers.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent.config import ASRConfig, TTSConfig
from agent.datasets import demo_languages, demo_responder, iter_jsonl
from agent.errors import ParlaError
from agent.messages import AudioIn, SpeechOut
from speech.asr import Transcriber, load_transcriber
from speech.audio import resample
from speech.metrics import error_rates
from speech.tts import TableSynthesizer, concatenate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceRun:
    """One voice's results on one language's texts."""

    lang: str
    voice: str  # as configured: engine:voice, or a "|" list of them
    spoken_with: str  # the configured voice that loaded: engine:name
    references: list[str]
    hypotheses: list[str]
    detected: list[str]
    first_audio_s: list[float]
    synth_s: float
    audio_s: float

    def summary(self) -> dict[str, Any]:
        rates = error_rates(self.references, self.hypotheses, [self.lang] * len(self.references))
        return {
            "lang": self.lang,
            "voice": self.voice,
            "spoken_with": self.spoken_with,
            "n": len(self.references),
            "cer": round(rates["cer"], 4),
            "wer": round(rates["wer"], 4),
            "language_accuracy": round(
                sum(d == self.lang for d in self.detected) / len(self.detected), 4
            ),
            "rtf": round(self.synth_s / max(self.audio_s, 1e-9), 4),
            "first_audio_ms_p50": round(1000 * statistics.median(self.first_audio_s), 1),
            "audio_seconds": round(self.audio_s, 1),
        }


def default_texts(limit: int) -> dict[str, list[str]]:
    """The demo's reference answers (test split), ``limit`` per language present."""
    texts: dict[str, list[str]] = {}
    for lang in demo_languages():
        answers = [e.answer for e in demo_responder("test", (lang,))]
        if answers:
            texts[lang] = answers[:limit]
    return texts


def read_texts(path: str | Path, limit: int) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    for number, row in enumerate(iter_jsonl(Path(path)), start=1):
        if not isinstance(row.get("text"), str) or not isinstance(row.get("lang"), str):
            raise ParlaError(f"{path}:{number}: needs string keys text and lang")
        bucket = texts.setdefault(row["lang"], [])
        if len(bucket) < limit:
            bucket.append(row["text"])
    if not texts:
        raise ParlaError(f"{path} holds no texts")
    return texts


def timed_synthesis(
    synth: TableSynthesizer, text: str, lang: str
) -> tuple[SpeechOut, float, float]:
    """(whole clip, seconds to the first piece, seconds for all pieces)."""
    started = time.perf_counter()
    outs: list[SpeechOut] = []
    first = 0.0
    for out in synth.stream(text, lang):
        if not outs:
            first = time.perf_counter() - started
        outs.append(out)
    return concatenate(outs, synth.config.pause_s), first, time.perf_counter() - started


def run_voice(
    lang: str, voice: str, texts: list[str], asr: Transcriber, base: TTSConfig
) -> VoiceRun:
    synth = TableSynthesizer(dataclasses.replace(base, voices={**base.voices, lang: voice}))
    synth.synthesize("OK.", lang)  # load the voice outside the timings
    loaded = synth.voice_for(lang).voice
    refs, hyps, detected, firsts = [], [], [], []
    synth_s = audio_s = 0.0
    for text in texts:
        speech, first, total = timed_synthesis(synth, text, lang)
        audio = AudioIn(resample(speech.samples, speech.sample_rate, 16_000))
        refs.append(text)
        hyps.append(asr.transcribe(audio, language=lang).text)
        detected.append(asr.transcribe(audio).language)
        firsts.append(first)
        synth_s += total
        audio_s += len(speech.samples) / speech.sample_rate
    spoken_with = f"{loaded.engine}:{loaded.name}"
    return VoiceRun(lang, voice, spoken_with, refs, hyps, detected, firsts, synth_s, audio_s)


def voices_to_run(config: TTSConfig, langs: list[str], extra: list[str]) -> list[tuple[str, str]]:
    """(language, voice) pairs: each language's configured voice, then the ``--voice`` extras."""
    pairs = [(lang, config.voices.get(lang) or config.fallback) for lang in langs]
    for item in extra:
        lang, sep, voice = item.partition("=")
        if not sep or not voice:
            raise ParlaError(f"--voice {item!r} should look like LANG=ENGINE:VOICE")
        pairs.append((lang, voice))
    return pairs


def evaluate(
    texts: dict[str, list[str]], config: TTSConfig, extra: list[str], asr_config: ASRConfig
) -> dict[str, Any]:
    asr = load_transcriber(asr_config, tuple(dict.fromkeys(texts)))
    runs = []
    for lang, voice in tqdm(voices_to_run(config, list(texts), extra), desc="tts eval"):
        if lang not in texts:
            raise ParlaError(f"no texts in language {lang!r} for --voice {voice}")
        runs.append(run_voice(lang, voice, texts[lang], asr, config).summary())
    first_runs = runs[: len(texts)]  # the configured voice of each language
    return {
        "n": sum(r["n"] for r in first_runs),
        "cer": {r["lang"]: r["cer"] for r in first_runs},
        "rtf": round(max(r["rtf"] for r in first_runs), 4),
        "first_audio_ms_p50": {r["lang"]: r["first_audio_ms_p50"] for r in first_runs},
        "voices": runs,
    }


def cmd_eval_tts(args: argparse.Namespace) -> dict[str, Any]:
    limit = getattr(args, "limit", None) or 10
    texts = read_texts(args.texts, limit) if getattr(args, "texts", None) else default_texts(limit)
    if getattr(args, "lang", None):
        wanted = set(args.lang.split(","))
        texts = {k: v for k, v in texts.items() if k in wanted}
        if not texts:
            raise ParlaError(f"no texts in language(s) {args.lang}")
    return evaluate(texts, TTSConfig(), list(getattr(args, "voice", None) or []), ASRConfig())
