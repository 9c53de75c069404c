"""Speech benchmark: every number issue #8 asks for, measured side by side in one run.

    python -m eval.bench_speech [--repeats 3] [--tts-limit 10] [--out DIR] [--json]

1. Whisper backends on the same clips and weights: faster-whisper (CTranslate2 int8) and
   openai-whisper (PyTorch fp32), each with the full 30 s window and with short windows:
   WER on ../shared/audio/jfk.flac, real-time factor, and short-turn latency (p50) on ~3 s
   clips (the JFK phrases, and one synthesised question per language).
2. Silence and noise clips: the share that comes back empty (target 100%).
3. Bad input: how fast a 2-hour file, an empty file and a text file are refused.
4. Voices: first-audio latency, synthesis real-time factor, round-trip CER per language.

Synthesised clips are made at run time with the TTS stage (never stored). Timings are medians
over ``--repeats`` runs, after one warm-up; the load average is printed because the machine's
two cores are shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.config import ASRConfig, TTSConfig
from agent.datasets import demo_intents, demo_languages
from agent.errors import ParlaError
from agent.messages import SAMPLE_RATE, AudioIn
from agent.threads import passive_openmp
from speech.asr import WhisperTranscriber, load_transcriber
from speech.audio import decode_audio, resample
from speech.metrics import error_rates
from speech.tts import load_synthesizer

logger = logging.getLogger(__name__)

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
JFK_PHRASES = (  # (start s, end s, words): cut in the pauses the VAD finds
    (0.0, 3.0, "And so my fellow Americans"),
    (3.0, 7.9, "ask not what your country can do for you"),
    (7.9, 11.0, "ask what you can do for your country"),
)
CONFIGS = {  # label -> ASR config: both backends, full window vs speech-length windows
    "faster-whisper 30s window": ASRConfig(short_window=False),
    "faster-whisper short window": ASRConfig(),  # speech + window_padding_s (7 s)
    "faster-whisper short window, 1 s padding": ASRConfig(window_padding_s=1.0),
    "openai-whisper 30s window": ASRConfig(backend="openai-whisper", short_window=False),
    "openai-whisper short window": ASRConfig(backend="openai-whisper"),
}


@dataclasses.dataclass(frozen=True)
class Clip:
    name: str
    audio: AudioIn
    text: str
    lang: str


def speech_clips() -> tuple[Clip, list[Clip]]:
    """(the whole JFK clip, the short turns: JFK phrases + one synthesised question a language)."""
    jfk = decode_audio(SHARED_AUDIO / "jfk.flac")
    whole = Clip("jfk", jfk, JFK_TEXT, "en")
    short = [
        Clip(
            f"jfk {a:.0f}-{b:.0f}s",
            AudioIn(jfk.samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]),
            text,
            "en",
        )
        for a, b, text in JFK_PHRASES
    ]
    synth = load_synthesizer(TTSConfig())
    for lang in demo_languages():
        questions = [e.text for e in demo_intents("test", (lang,)) if 20 <= len(e.text) <= 60]
        if questions:
            speech = synth.synthesize(questions[0], lang)
            audio = AudioIn(resample(speech.samples, speech.sample_rate, SAMPLE_RATE))
            short.append(Clip(f"tts {lang}", audio, questions[0], lang))
    return whole, short


def noise_clips(seed: int = 0) -> list[Clip]:
    """Clips with no speech in them: silence, noises, hum, tones, a cough-like burst."""
    rng = np.random.default_rng(seed)
    sr = SAMPLE_RATE
    t = np.arange(10 * sr) / sr
    white = rng.standard_normal(10 * sr)
    pink = np.cumsum(rng.standard_normal(10 * sr))
    pink = np.diff(pink, prepend=0) * 0.02 + np.convolve(white, np.ones(32) / 32, "same")
    chords = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330)) * (
        np.sin(2 * np.pi * 2 * t) > 0
    )
    burst = np.zeros(3 * sr)
    burst[sr : sr + 4000] = rng.standard_normal(4000) * np.exp(-np.arange(4000) / 800)
    clips = {
        "digital silence 5s": np.zeros(5 * sr),
        "white noise 10s -20dBFS": white * 0.1,
        "white noise 10s -6dBFS": np.clip(white * 0.5, -1, 1),
        "pink-ish noise 10s": pink / np.max(np.abs(pink)) * 0.3,
        "mains hum 10s": 0.3 * np.sin(2 * np.pi * 50 * t),
        "beeping chords 10s": 0.2 * chords / 3,
        "cough-like burst 3s": burst * 0.6,
    }
    return [Clip(name, AudioIn(x.astype(np.float32)), "", "") for name, x in clips.items()]


def timed(transcriber: WhisperTranscriber, clip: Clip, repeats: int) -> tuple[str, float, str]:
    """(text, median seconds, detected language) of ``repeats`` runs after a warm-up run."""
    transcript = transcriber.transcribe(clip.audio)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        transcript = transcriber.transcribe(clip.audio)
        times.append(time.perf_counter() - started)
    return transcript.text, statistics.median(times), transcript.language


def bench_config(config: ASRConfig, whole: Clip, short: list[Clip], repeats: int) -> dict:
    transcriber = load_transcriber(config)
    assert isinstance(transcriber, WhisperTranscriber)
    text, seconds, _ = timed(transcriber, whole, repeats)
    rows = [timed(transcriber, clip, repeats) for clip in short]
    en = [i for i, c in enumerate(short) if c.lang == "en" and c.name.startswith("jfk")]
    jfk_rates = error_rates([whole.text], [text], ["en"])
    phrase_rates = error_rates(
        [short[i].text for i in en], [rows[i][0] for i in en], ["en"] * len(en)
    )
    all_rates = error_rates([c.text for c in short], [r[0] for r in rows], [c.lang for c in short])
    return {
        "jfk_wer": round(jfk_rates["wer"], 4),
        "jfk_rtf": round(seconds / whole.audio.duration_s, 4),
        "jfk_seconds": round(seconds, 3),
        "short_p50_s": round(statistics.median(r[1] for r in rows), 3),
        "short_max_s": round(max(r[1] for r in rows), 3),
        "short_audio_s": round(statistics.median(c.audio.duration_s for c in short), 2),
        "short_jfk_phrases_wer": round(phrase_rates["wer"], 4),
        "short_all_cer": round(all_rates["cer"], 4),
        "short_language_accuracy": round(
            sum(r[2] == c.lang for r, c in zip(rows, short, strict=True)) / len(short), 3
        ),
        "short_texts": {c.name: r[0] for c, r in zip(short, rows, strict=True)},
        "jfk_text": text,
    }


def bench_noise(config: ASRConfig, clips: list[Clip]) -> dict:
    transcriber = load_transcriber(config)
    texts = {clip.name: transcriber.transcribe(clip.audio).text for clip in clips}
    return {
        "empty_rate": round(sum(not t for t in texts.values()) / len(texts), 3),
        "non_empty": {k: v for k, v in texts.items() if v},
    }


def bench_refusals() -> dict:
    """Seconds to refuse what must be refused (the 2-hour file by its header, unread)."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        long_wav = Path(tmp) / "two-hours.wav"
        import soundfile as sf

        sf.write(long_wav, np.zeros(2 * 3600 * 1000, dtype=np.float32), 1000, subtype="PCM_U8")
        text = Path(tmp) / "notes.wav"
        text.write_text("this is not audio\n")
        empty = Path(tmp) / "empty.wav"
        empty.write_bytes(b"")
        for name, path in (
            ("two-hour file", long_wav),
            ("text renamed .wav", text),
            ("zero-length file", empty),
        ):
            started = time.perf_counter()
            try:
                decode_audio(path)
                out[name] = "accepted (wrong)"
            except ParlaError as exc:
                out[name] = f"refused in {1000 * (time.perf_counter() - started):.0f} ms: {exc}"
    return out


def bench_tts(limit: int) -> dict:
    from eval.tts import default_texts, evaluate

    texts = default_texts(limit)
    # Engine comparison: English on espeak-ng too; and every language on espeak-ng's untuned
    # default voice, to show what the tuned voices in TTSConfig gain.
    extra = [f"{lang}={TTSConfig().fallback}" for lang in texts]
    return evaluate(texts, TTSConfig(), extra, ASRConfig())


def run(repeats: int, tts_limit: int) -> dict[str, Any]:
    whole, short = speech_clips()
    noise = noise_clips()
    results: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
    asr: dict[str, Any] = {}
    for label, config in CONFIGS.items():
        logger.info("benchmarking %s", label)
        asr[label] = bench_config(config, whole, short, repeats)
        asr[label]["noise"] = bench_noise(config, noise)
    results["asr"] = asr
    fw, ow = asr["faster-whisper short window"], asr["openai-whisper short window"]
    results["speedup_faster_vs_openai"] = {
        "short window, jfk": round(ow["jfk_seconds"] / fw["jfk_seconds"], 2),
        "short window, short turns p50": round(ow["short_p50_s"] / fw["short_p50_s"], 2),
        "30s window, jfk": round(
            asr["openai-whisper 30s window"]["jfk_seconds"]
            / asr["faster-whisper 30s window"]["jfk_seconds"],
            2,
        ),
    }
    results["refusals"] = bench_refusals()
    if tts_limit:
        results["tts"] = bench_tts(tts_limit)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| ASR config | jfk WER | jfk RTF | 3 s turn p50 (s) | phrases WER | short CER (all langs) "
        "| noise empty |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in results["asr"].items():
        lines.append(
            f"| {label} | {r['jfk_wer']:.1%} | {r['jfk_rtf']:.3f} | {r['short_p50_s']:.3f} "
            f"| {r['short_jfk_phrases_wer']:.1%} | {r['short_all_cer']:.1%} "
            f"| {r['noise']['empty_rate']:.0%} |"
        )
    lines.append("")
    lines.append(
        f"speed-up faster-whisper vs openai-whisper: {results['speedup_faster_vs_openai']}"
    )
    if "tts" in results:
        lines += [
            "",
            "| voice | lang | first audio p50 (ms) | RTF | round-trip CER |",
            "|---|---|---|---|---|",
        ]
        for v in results["tts"]["voices"]:
            lines.append(
                f"| {v['voice']} | {v['lang']} | {v['first_audio_ms_p50']:.0f} "
                f"| {v['rtf']:.3f} | {v['cer']:.1%} |"
            )
    lines.append("")
    lines.append(
        f"load average at start/end: {results['load_average']} / {results['load_average_end']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    passive_openmp()  # as `parla` runs (agent.threads)
    parser = argparse.ArgumentParser(prog="python -m eval.bench_speech", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tts-limit", type=int, default=10, help="texts per language; 0 skips")
    parser.add_argument("--out", help="folder for bench_speech.json and bench_speech.md")
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    results = run(args.repeats, args.tts_limit)
    table = markdown(results)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench_speech.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
        (out / "bench_speech.md").write_text(table + "\n")
    if not args.json:
        print(table)
    print(json.dumps(results, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
