"""Benchmark of the understanding stage: intents, out of scope, latency, languages, entities.

    python -m eval.bench_intent [--model DIR] [--test F] [--fewshot-model DIR
        --fewshot-intents a,b] [--banking77-model DIR] [--json]

Prints a Markdown table, then one JSON object (only the JSON with ``--json``). Defaults: the
demo intent model that `parla setup` trains, and the demo data's test split in every language
present. ``--fewshot-model`` is a model fine-tuned *without* the ``--fewshot-intents``: they are
then added from k examples per language (or a description) and measured on the test split.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.config import IntentConfig
from agent.datasets import IntentExample, demo_dialogues, demo_intents, read_intent_file
from agent.threads import passive_openmp

if TYPE_CHECKING:  # torch loads in main(), after the OpenMP setting below
    from agent.intent import IntentClassifier

# One-line descriptions for zero-shot checks (our words, from data/demo/company.md's table).
DESCRIPTIONS = {
    "trade_in": "trade in or recycle an old phone, tablet, laptop or console for credit",
    "installation_service": "book home installation: TV wall mounting, washing machine setup",
    "gift_card": "buy, use or check the balance of a gift card",
    "newsletter": "unsubscribe from marketing emails or the newsletter",
}


def latency(classifier: IntentClassifier, texts: Sequence[str], n: int) -> dict[str, float]:
    """Single-query wall time (tokenise + forward + decision), and batched throughput."""
    for text in texts[:10]:
        classifier.classify(text)  # warm-up: first calls allocate
    timings = []
    for text in (list(texts) * (1 + n // max(1, len(texts))))[:n]:
        started = time.perf_counter()
        classifier.classify(text)
        timings.append(1000 * (time.perf_counter() - started))
    batch = list(texts[:256])
    started = time.perf_counter()
    classifier.classify_batch(batch)
    per_s = len(batch) / (time.perf_counter() - started)
    return {"p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(float(np.percentile(timings, 95)), 2),
            "batch_per_s": round(per_s, 1)}  # fmt: skip


def languages() -> dict[str, Any]:
    """Routing accuracy: whole demo dialogues (the session carries over) and single test turns."""
    from agent.language import LanguageRouter

    router = LanguageRouter()
    hits = total = 0
    for dialogue in demo_dialogues():
        session = None
        for turn in dialogue["turns"]:
            session = router.route(turn["user"], session).code
            hits, total = hits + (session == turn["lang"]), total + 1
    per_lang: dict[str, list[bool]] = {}
    started = time.perf_counter()
    test = demo_intents("test")
    for example in test:
        per_lang.setdefault(example.lang or "?", []).append(
            router.route(example.text, None).code == example.lang
        )
    ms = 1000 * (time.perf_counter() - started) / max(1, len(test))
    return {"dialogue_turn_accuracy": round(hits / total, 4), "dialogue_turns": total,
            "single_turn_accuracy": {k: round(float(np.mean(v)), 4) for k, v in per_lang.items()},
            "ms_per_turn": round(ms, 2)}  # fmt: skip


def entities() -> dict[str, Any]:
    from agent.entities import load_entity_extractor
    from eval.entities import evaluate_entities, read_annotations

    result = evaluate_entities(load_entity_extractor(), read_annotations(None))
    result["errors"] = len(result["errors"])
    return result


def fewshot(model_dir: Path, held_out: Sequence[str], k_values: Sequence[int]) -> dict[str, Any]:
    """Held-out intents added from k training examples per language, or from a description."""
    from agent.intent import load_intent_model_folder

    classifier = load_intent_model_folder(model_dir, IntentConfig())
    train, test = demo_intents("train"), demo_intents("test")
    out: dict[str, Any] = {}
    for k in k_values:
        for label in held_out:
            classifier.add_intent(label, _first_per_language(train, label, k))
        out[f"k={k}"] = _fewshot_scores(classifier, test, held_out)
    for label in held_out:
        classifier.add_intent(label, description=DESCRIPTIONS.get(label, label.replace("_", " ")))
    out["description"] = _fewshot_scores(classifier, test, held_out)
    return out


def _first_per_language(examples: Sequence[IntentExample], label: str, k: int) -> list[str]:
    taken: dict[str, int] = {}
    picked = []
    for e in examples:
        if e.label == label and taken.get(e.lang or "", 0) < k:
            taken[e.lang or ""] = taken.get(e.lang or "", 0) + 1
            picked.append(e.text)
    return picked


def _fewshot_scores(
    classifier: IntentClassifier, test: Sequence[IntentExample], held_out: Sequence[str]
) -> dict[str, float]:
    intents = classifier.classify_batch([e.text for e in test])
    new = [i.label == e.label for e, i in zip(test, intents, strict=True) if e.label in held_out]
    old = [
        i.label == e.label for e, i in zip(test, intents, strict=True) if e.label not in held_out
    ]
    stolen = [
        i.label in held_out for e, i in zip(test, intents, strict=True) if e.label not in held_out
    ]
    return {"new_intent_recall": round(float(np.mean(new)), 4),
            "other_intents_accuracy": round(float(np.mean(old)), 4),
            "other_turns_taken_by_new": round(float(np.mean(stolen)), 4)}  # fmt: skip


def banking77(model_dir: Path, test_csv: Path) -> dict[str, Any]:
    from agent.intent import load_intent_model_folder
    from eval.intent import evaluate_intents

    classifier = load_intent_model_folder(model_dir, IntentConfig())
    metrics, _ = evaluate_intents(classifier, read_intent_file(test_csv))
    card = classifier.card.training
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "n": metrics["n"],
            "train_seconds": card.get("seconds"), "train_cpu_seconds": card.get("cpu_seconds"),
            "epochs": card.get("epochs")}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from agent.intent import load_intent_model_folder, resolve_intent_model
    from eval.intent import evaluate_intents

    torch.set_num_threads(args.threads)
    folder = resolve_intent_model(args.model)
    classifier = load_intent_model_folder(folder, IntentConfig())
    test = read_intent_file(args.test) if args.test else demo_intents("test")
    metrics, _ = evaluate_intents(classifier, test)
    training = classifier.card.training
    result: dict[str, Any] = {
        "model": str(folder),
        "intent": metrics,
        "training": {k: training.get(k) for k in ("seconds", "cpu_seconds", "epochs", "layers")},
    }
    result["latency"] = latency(classifier, [e.text for e in test], args.latency_n)
    if args.quantized:
        quantised = load_intent_model_folder(folder, IntentConfig(quantize=True))
        q_metrics, _ = evaluate_intents(quantised, test)
        timings = latency(quantised, [e.text for e in test], args.latency_n)
        result["quantized"] = {"accuracy": q_metrics["accuracy"], **timings}
    result["language"] = languages()
    result["entities"] = entities()
    if args.fewshot_model:
        held_out = [x for x in args.fewshot_intents.split(",") if x]
        result["fewshot"] = fewshot(Path(args.fewshot_model), held_out, (1, 3, 5))
    if args.banking77_model:
        result["banking77"] = banking77(Path(args.banking77_model), Path(args.banking77_test))
    return result


def markdown(result: dict[str, Any]) -> str:
    intent, lat = result["intent"], result["latency"]
    drop = None
    if intent.get("in_scope_accuracy_without_threshold") is not None:
        drop = intent["in_scope_accuracy_without_threshold"] - intent["in_scope_accuracy"]
    rows = [("intent accuracy (all languages)", intent["accuracy"], ""),
            ("intent macro-F1", intent["macro_f1"], ""),
            ("out-of-scope recall", intent["oos_recall"], ">= 0.80"),
            ("in-scope accuracy drop from the threshold (points)",
             None if drop is None else round(100 * drop, 2), "<= 2"),
            ("one query p50 / p95 (ms)", f"{lat['p50_ms']} / {lat['p95_ms']}", "p50 <= 30"),
            ("batched (texts/s)", lat["batch_per_s"], ""),
            ("fine-tune wall / CPU seconds", f"{result['training']['seconds']} / "
             f"{result['training']['cpu_seconds']}", "<= 240 wall")]  # fmt: skip
    for lang, row in intent["per_language"].items():
        rows.append((f"intent accuracy {lang} (n={row['n']})", row["accuracy"], ">= 0.95"))
    language, ents = result["language"], result["entities"]
    rows.append(("language: dialogue turns right", language["dialogue_turn_accuracy"], ""))
    rows += [(f"language: single turn {k}, no session", v, "")
             for k, v in language["single_turn_accuracy"].items()]  # fmt: skip
    rows.append(("entities F1 strict / value", f"{ents['f1']} / {ents['value_f1']}", ">= 0.9"))
    for name in ("quantized", "fewshot", "banking77"):
        if name in result:
            rows.append((name, json.dumps(result[name]), ""))
    lines = ["| measure | value | target |", "|---|---|---|"]
    lines += [f"| {m} | {v} | {t} |" for m, v, t in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_intent", description=__doc__)
    parser.add_argument("--model", default="demo:intent")
    parser.add_argument("--test", help="intent test file (default: the demo test split)")
    parser.add_argument("--latency-n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quantized", action="store_true", help="also measure int8 dynamic")
    parser.add_argument("--fewshot-model")
    parser.add_argument("--fewshot-intents", default="trade_in,installation_service")
    parser.add_argument("--banking77-model")
    parser.add_argument("--banking77-test", default="../shared/data/banking77/test.csv")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    passive_openmp()  # as `parla` runs (agent.threads)
    result = run(args)
    if not args.json:
        print(markdown(result))
    print(json.dumps(result, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
