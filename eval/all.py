"""``parla eval all --report DIR``: every stage on the demo test sets, the cascade, one report.

Writes ``report.md`` (tables per language, plots), ``report.json`` (every number) and each
stage's own files (the intent confusion matrix ...) into DIR, default
``$PARLA_HOME/reports/<time>``, where the app's evaluation tab finds the latest one.

The cascade speaks the demo test utterances with the speech stage's voices (made at run time,
never committed), transcribes them, and runs both the transcript and the original text through
the intent model and the whole agent: the report shows what each stage's errors cost the next.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent.errors import ParlaError

logger = logging.getLogger(__name__)


def default_report_dir() -> Path:
    from agent.models import parla_home

    return parla_home() / "reports" / time.strftime("%Y%m%d-%H%M%S")


def _stage(name: str, results: dict[str, Any], fn: Callable[[], dict[str, Any]]) -> None:
    """Run one evaluation; a failure is recorded in the report instead of stopping the others."""
    started = time.monotonic()
    try:
        results[name] = fn()
    except (ParlaError, ImportError, OSError, RuntimeError, ValueError) as exc:
        logger.error("eval %s failed: %s", name, exc)
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    results.setdefault("seconds", {})[name] = round(time.monotonic() - started, 1)


def run_all(report: Path, per_language: int = 5, speech: bool = True) -> dict[str, Any]:
    from agent.models import ModelSpec

    data = report / "data"
    data.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"report": str(report)}
    steps = _stage_runners(report, data, ModelSpec("demo:index").resolve(), per_language, speech)
    for name, fn in tqdm(steps, desc="parla eval all", unit="stage"):
        _stage(name, results, fn)
    write_report(report, results)
    return results


def _stage_runners(
    report: Path, data: Path, index: Path, per_language: int, speech: bool
) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    ns = argparse.Namespace

    def intent() -> dict[str, Any]:
        from eval.intent import cmd_eval_intent
        from finetune.intent import write_demo_splits

        test = write_demo_splits(data / "intents")["test"]
        return cmd_eval_intent(ns(model="demo:intent", test=test, report=str(report / "intent")))

    def entities() -> dict[str, Any]:
        from eval.entities import cmd_eval_entities

        return cmd_eval_entities(ns(data=None, report=str(report / "entities")))

    def retrieval() -> dict[str, Any]:
        from eval.retrieval import cmd_eval_retrieval
        from retrieval.setup import write_demo_queries

        queries = write_demo_queries(data / "queries")
        return cmd_eval_retrieval(
            ns(index=str(index), queries=str(queries["test"]), report=str(report / "retrieval"))
        )

    def responder() -> dict[str, Any]:
        from eval.responder import cmd_eval_responder

        return cmd_eval_responder(
            ns(
                model="demo:responder",
                test="demo",
                split="test",
                index=str(index),
                passages=None,
                limit=None,
                report=str(report / "responder"),
            )
        )

    def dialogues() -> dict[str, Any]:
        return _dialogues(report)

    steps = [
        ("intent", intent),
        ("entities", entities),
        ("retrieval", retrieval),
        ("responder", responder),
        ("dialogues", dialogues),
    ]
    if speech:
        steps += [
            ("tts", lambda: _tts(per_language)),
            ("cascade", lambda: cascade(report / "cascade", per_language)),
        ]
    return steps


def _tts(per_language: int) -> dict[str, Any]:
    from eval.tts import cmd_eval_tts

    return cmd_eval_tts(argparse.Namespace(limit=per_language, texts=None, lang=None, voice=None))


def _dialogues(report: Path) -> dict[str, Any]:
    from agent.config import load_config
    from agent.loading import load_agent
    from eval.dialogues import run_dialogues, summarise

    loaded = load_agent(load_config(), store_path=report / "data" / "dialogues.sqlite")
    latencies: dict[str, list[float]] = defaultdict(list)
    outcomes = run_dialogues(loaded, latencies=latencies)
    result = summarise(outcomes)
    result["latency_ms"] = {k: v for k, v in latencies.items()}
    return result


def cascade(folder: Path, per_language: int) -> dict[str, Any]:
    """Spoken test utterances through ASR, then intent and agent, against the typed text."""
    from agent.config import load_config
    from agent.loading import load_agent
    from agent.messages import Turn
    from eval.asr import evaluate as evaluate_asr
    from eval.asr import read_manifest, write_synthetic_manifest

    manifest = write_synthetic_manifest(folder, per_language)
    clips = [c for c in read_manifest(manifest) if c.lang]
    config = load_config()
    asr_summary, asr_rows = evaluate_asr(clips, config.asr)
    loaded = load_agent(config, store_path=folder / "cascade.sqlite")
    intents = loaded.agent.stages.intents
    per_lang: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in asr_rows:
        score_spoken_turn(
            per_lang[row.lang],
            row.reference,
            row.hypothesis,
            row.lang,
            lambda text: intents.classify(text).label,
            lambda text: loaded.agent.respond(Turn(text=text), loaded.sessions.get()).reply,
        )
    return {
        "asr": {k: v for k, v in asr_summary.items() if k != "clips"},
        "per_language": {
            lang: {k: round(sum(v) / len(v), 4) for k, v in s.items()}
            for lang, s in sorted(per_lang.items())
        },
        "n": len(asr_rows),
        "note": "synthetic speech (the speech stage's own voices): a pipeline check, not "
        "Whisper's accuracy on real people",
    }


def score_spoken_turn(
    stats: dict[str, list[float]],
    reference: str,
    heard: str,
    lang: str,
    classify: Callable[[str], str],
    respond: Callable[[str], Any],
) -> None:
    """One spoken clip: does the transcript get the typed text's intent, and a grounded reply
    in the clip's language? A clip Whisper heard nothing in counts as a miss."""
    heard = heard.strip()
    stats["heard_nothing"].append(float(not heard))
    if not heard:
        stats["intent_agrees"].append(0.0)
        return
    stats["intent_agrees"].append(float(classify(reference) == classify(heard)))
    reply = respond(heard)
    stats["reply_language_match"].append(float(reply.language == lang))
    stats["grounded"].append(float(reply.grounded))


def write_report(report: Path, results: dict[str, Any]) -> None:
    from eval.report import render_markdown

    (report / "report.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n"
    )
    (report / "report.md").write_text(render_markdown(report, results), encoding="utf-8")


def cmd_eval_all(args: argparse.Namespace) -> dict[str, Any]:
    report = Path(args.report) if args.report else default_report_dir()
    results = run_all(report, per_language=args.per_language, speech=not args.no_speech)
    return _headline(results)


def _headline(results: dict[str, Any]) -> dict[str, Any]:
    """The few numbers printed by the command; the report has the rest."""
    pick = {
        "intent": ("accuracy", "macro_f1", "oos_recall", "in_scope_accuracy"),
        "entities": ("f1",),
        "retrieval": ("recall@1", "recall@5", "mrr@10"),
        "responder": ("rouge_l", "grounded_rate", "language_match"),
        "dialogues": ("turn_accuracy", "action_accuracy"),
        "tts": ("rtf", "cer"),
        "cascade": ("per_language",),
    }
    out: dict[str, Any] = {"report": results["report"], "seconds": results.get("seconds")}
    for stage, keys in pick.items():
        value = results.get(stage, {})
        out[stage] = (
            {"error": value["error"]}
            if "error" in value
            else {k: value.get(k) for k in keys if k in value}
        )
    return out
