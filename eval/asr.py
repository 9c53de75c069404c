"""``parla eval asr --manifest F``: WER, CER, language-ID accuracy and real-time factor.

The manifest is JSONL, one clip a line: ``{"audio": path, "text": reference, "lang": code}``,
paths relative to the manifest. Each clip is transcribed with language ID on (so the language
accuracy is measured), and the error rates use ``speech.metrics`` (one normaliser, pooled).
The real-time factor is transcription time over audio duration (decoding the file excluded).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent.config import LANGUAGES, ASRConfig
from agent.datasets import iter_jsonl
from agent.errors import ParlaError
from speech.asr import Transcriber, load_transcriber
from speech.audio import decode_audio
from speech.metrics import error_rates

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    audio: Path
    text: str
    lang: str


@dataclass(frozen=True)
class ClipResult:
    audio: str
    lang: str
    reference: str
    hypothesis: str
    detected: str
    duration_s: float
    seconds: float


def read_manifest(path: str | Path) -> list[Clip]:
    path = Path(path)
    if not path.is_file():
        raise ParlaError(f"ASR manifest not found: {path}")
    clips: list[Clip] = []
    for number, row in enumerate(iter_jsonl(path), start=1):
        audio, text, lang = row.get("audio"), row.get("text"), row.get("lang")
        if not isinstance(audio, str) or not isinstance(text, str) or not isinstance(lang, str):
            raise ParlaError(f"{path}:{number}: needs string keys audio, text and lang")
        clips.append(Clip((path.parent / audio).resolve(), text, lang))
    if not clips:
        raise ParlaError(f"{path} holds no clips")
    return clips


def run_clips(transcriber: Transcriber, clips: list[Clip], config: ASRConfig) -> list[ClipResult]:
    results: list[ClipResult] = []
    for clip in tqdm(clips, desc="asr eval", unit="clip"):
        audio = decode_audio(clip.audio, config)
        started = time.perf_counter()
        transcript = transcriber.transcribe(audio)
        seconds = time.perf_counter() - started
        results.append(
            ClipResult(
                str(clip.audio),
                clip.lang,
                clip.text,
                transcript.text,
                transcript.language,
                audio.duration_s,
                seconds,
            )
        )
    return results


def summarise(results: list[ClipResult]) -> dict[str, Any]:
    """The contract's keys (n, wer, cer, language_accuracy, rtf) for a list of clips."""
    rates = error_rates(
        [r.reference for r in results], [r.hypothesis for r in results], [r.lang for r in results]
    )
    audio_s = sum(r.duration_s for r in results)
    return {
        "n": len(results),
        "wer": round(rates["wer"], 4),
        "cer": round(rates["cer"], 4),
        "language_accuracy": round(sum(r.detected == r.lang for r in results) / len(results), 4),
        "rtf": round(sum(r.seconds for r in results) / max(audio_s, 1e-9), 4),
        "p50_seconds": round(statistics.median(r.seconds for r in results), 3),
        "audio_seconds": round(audio_s, 1),
    }


def evaluate(clips: list[Clip], config: ASRConfig) -> tuple[dict[str, Any], list[ClipResult]]:
    languages = tuple(dict.fromkeys([*LANGUAGES, *(c.lang for c in clips)]))
    transcriber = load_transcriber(config, languages)
    results = run_clips(transcriber, clips, config)
    summary = summarise(results)
    summary["per_language"] = {
        lang: summarise([r for r in results if r.lang == lang])
        for lang in sorted({r.lang for r in results})
    }
    summary.update(
        backend=config.backend,
        model=config.model,
        beam_size=config.beam_size,
        short_window=config.short_window,
    )
    return summary, results


def config_from_args(args: argparse.Namespace) -> ASRConfig:
    config = ASRConfig()
    changes: dict[str, Any] = {}
    for name in ("backend", "model", "beam_size"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if getattr(args, "full_window", False):
        changes["short_window"] = False
    return dataclasses.replace(config, **changes)


def write_report(folder: str | Path, summary: dict[str, Any], results: list[ClipResult]) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "asr_clips.jsonl").open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n")
    (folder / "asr_summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))


def cmd_eval_asr(args: argparse.Namespace) -> dict[str, Any]:
    clips = read_manifest(args.manifest)
    if getattr(args, "limit", None):
        clips = clips[: args.limit]
    summary, results = evaluate(clips, config_from_args(args))
    if getattr(args, "report", None):
        write_report(args.report, summary, results)
    return summary


def write_synthetic_manifest(folder: str | Path, per_language: int = 5) -> Path:
    """A test manifest made here, at run time: the demo's test questions spoken by the TTS stage
    in every language present, plus ../shared/audio/jfk.flac when it exists (real speech).

    There is no public multilingual speech on this machine; synthetic speech mostly measures the
    voices, so read its numbers as a pipeline check, not as Whisper's accuracy on people.
    """
    from agent.config import TTSConfig
    from agent.datasets import demo_intents, demo_languages
    from speech.audio import write_wav
    from speech.tts import load_synthesizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    synth = load_synthesizer(TTSConfig())
    rows: list[dict[str, str]] = []
    for lang in demo_languages():
        questions = [e.text for e in demo_intents("test", (lang,)) if 15 <= len(e.text) <= 90]
        for i, text in enumerate(questions[:per_language]):
            name = f"{lang}-{i:02d}.wav"
            write_wav(synth.synthesize(text, lang), folder / name)
            rows.append({"audio": name, "text": text, "lang": lang})
    jfk = Path(__file__).resolve().parents[2] / "shared" / "audio" / "jfk.flac"
    if jfk.is_file():
        rows.append({"audio": str(jfk), "text": JFK_REFERENCE, "lang": "en"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return manifest


JFK_REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)

if __name__ == "__main__":  # python -m eval.asr DIR [N]: write a synthetic manifest into DIR
    import sys

    print(write_synthetic_manifest(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5))
