"""Render ``parla eval all`` results as Markdown with plots (tables per language, PNGs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from eval.plots import latency_histograms, per_language_bars

logger = logging.getLogger(__name__)


def _table(rows: list[list[Any]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def _per_language(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{metric: {lang: value}}`` for the plot and the language table."""
    metrics: dict[str, dict[str, float]] = {}

    def take(name: str, source: Any, key: str | None = None) -> None:
        if isinstance(source, dict):
            values = {
                lang: (v.get(key) if key and isinstance(v, dict) else v)
                for lang, v in source.items()
            }
            metrics[name] = {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}

    take("intent accuracy", results.get("intent", {}).get("per_language"), "accuracy")
    take("retrieval recall@5", results.get("retrieval", {}).get("per_language"), "recall@5")
    take("responder ROUGE-L", results.get("responder", {}).get("per_language"), "rouge_l")
    take("dialogue turns right", results.get("dialogues", {}).get("per_language"))
    take("cascade intent agrees", results.get("cascade", {}).get("per_language"), "intent_agrees")
    return {k: v for k, v in metrics.items() if v}


def render_markdown(report: Path, results: dict[str, Any]) -> str:
    parts = [
        "# Parla evaluation report",
        "",
        f"Report folder: `{report}`. Every number is also in `report.json`.",
        "",
    ]
    per_lang = _per_language(results)
    if per_lang:
        langs = sorted({lang for v in per_lang.values() for lang in v})
        rows = [
            [metric] + [values.get(lang) for lang in langs] for metric, values in per_lang.items()
        ]
        parts += ["## Per language", "", _table(rows, ["metric"] + langs), ""]
        per_language_bars(per_lang, "Per-language quality", report / "per_language.png")
        parts += ["![per language](per_language.png)", ""]
    parts += _stage_sections(report, results)
    return "\n".join(parts) + "\n"


def _stage_sections(report: Path, results: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    for stage in ("intent", "entities", "retrieval", "responder", "dialogues", "tts", "cascade"):
        value = results.get(stage)
        if value is None:
            continue
        parts += [f"## {stage}", ""]
        if "error" in value:
            parts += [f"Not measured: {value['error']}", ""]
            continue
        scalars = [
            [k, v]
            for k, v in value.items()
            if isinstance(v, (int, float, str)) and k not in ("report", "index", "queries")
        ]
        parts += [_table(scalars, ["metric", "value"]), ""]
        parts += _stage_extras(report, stage, value)
    seconds = results.get("seconds", {})
    parts += [
        "## Time per evaluation",
        "",
        _table([[k, v] for k, v in seconds.items()], ["stage", "seconds"]),
        "",
    ]
    return parts


def _stage_extras(report: Path, stage: str, value: dict[str, Any]) -> list[str]:
    if stage == "intent" and (report / "intent" / "confusion_matrix.png").exists():
        return ["![intent confusion matrix](intent/confusion_matrix.png)", ""]
    if stage == "dialogues" and value.get("latency_ms"):
        latency_histograms(
            value["latency_ms"], report / "latency.png", "Text-turn latency per stage"
        )
        errors = value.get("errors", [])[:10]
        rows = [[e["dialogue"], e["user"], e["expected"], e["got"]] for e in errors]
        return [
            "![latency per stage](latency.png)",
            "",
            "First turns that went wrong:",
            "",
            _table(rows, ["dialogue", "user", "expected", "got"]),
            "",
        ]
    if stage == "cascade" and isinstance(value.get("asr"), dict):
        asr = value["asr"]
        return [
            f"ASR on the spoken test utterances: WER {asr.get('wer')}, CER {asr.get('cer')}, "
            f"language ID {asr.get('language_accuracy')}, RTF {asr.get('rtf')}.",
            f"_{value.get('note', '')}_",
            "",
        ]
    return []
