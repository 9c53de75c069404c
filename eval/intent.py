"""``parla eval intent --model DIR --test F [--report DIR]``: how well the intent model does.

Accuracy, macro-F1, in-scope accuracy and out-of-scope recall (with the model's threshold, and
without it for comparison), accuracy per language, scikit-learn's ``classification_report``,
and with ``--report`` a confusion-matrix PNG, the report as text and JSON, and the errors.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.config import IntentConfig
from agent.datasets import IntentExample, read_intent_file, write_jsonl
from agent.errors import ParlaError
from agent.intent import OUT_OF_SCOPE, IntentClassifier, load_intent_model_folder
from agent.models import ModelSpec

logger = logging.getLogger(__name__)


def evaluate_intents(
    classifier: IntentClassifier, examples: Sequence[IntentExample]
) -> tuple[dict[str, Any], list[str]]:
    """Metrics over ``examples`` and the predicted label of each."""
    from tqdm import tqdm

    texts = [e.text for e in examples]
    probs = np.concatenate(
        [classifier.probabilities(texts[i : i + 256])
         for i in tqdm(range(0, len(texts), 256), desc="classifying", unit="x256")]
    )  # fmt: skip
    predicted = [classifier.intent_from_probabilities(p).label for p in probs]
    plain = [classifier.labels[int(i)] for i in probs.argmax(axis=1)]
    gold = [e.label for e in examples]
    metrics = decision_metrics(gold, predicted)
    without = decision_metrics(gold, plain)
    metrics["in_scope_accuracy_without_threshold"] = without.get("in_scope_accuracy")
    metrics["oos_recall_without_threshold"] = without.get("oos_recall")
    metrics["per_language"] = per_language(examples, predicted)
    unknown = sorted({g for g in gold if g not in classifier.labels and g != OUT_OF_SCOPE})
    if unknown:
        logger.warning("test labels the model was not trained on (always wrong): %s", unknown)
        metrics["unknown_labels"] = unknown
    return metrics, predicted


def decision_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    g, p = np.array(gold), np.array(predicted)
    oos = g == OUT_OF_SCOPE
    out: dict[str, Any] = {
        "n": len(g),
        "accuracy": _round(np.mean(g == p)),
        "macro_f1": _round(f1_score(g, p, average="macro", labels=sorted(set(g)), zero_division=0)),
        "in_scope_accuracy": _round(np.mean(g[~oos] == p[~oos])) if (~oos).any() else None,
        "oos_recall": _round(np.mean(p[oos] == OUT_OF_SCOPE)) if oos.any() else None,
    }
    flagged = p == OUT_OF_SCOPE
    out["oos_precision"] = _round(np.mean(g[flagged] == OUT_OF_SCOPE)) if flagged.any() else None
    return out


def per_language(examples: Sequence[IntentExample], predicted: Sequence[str]) -> dict[str, Any]:
    by_lang: dict[str, list[bool]] = {}
    for example, label in zip(examples, predicted, strict=True):
        by_lang.setdefault(example.lang or "?", []).append(example.label == label)
    return {lang: {"n": len(hits), "accuracy": _round(np.mean(hits))}
            for lang, hits in sorted(by_lang.items())}  # fmt: skip


def _round(value: Any) -> float:
    return round(float(value), 4)


def write_report(
    folder: Path,
    examples: Sequence[IntentExample],
    predicted: Sequence[str],
    metrics: dict[str, Any],
) -> dict[str, str]:
    """classification_report.txt, metrics.json, errors.jsonl and confusion_matrix.png."""
    from sklearn.metrics import classification_report

    folder.mkdir(parents=True, exist_ok=True)
    gold = [e.label for e in examples]
    report = classification_report(gold, predicted, digits=4, zero_division=0)
    (folder / "classification_report.txt").write_text(report, encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    errors = [{"text": e.text, "label": e.label, "predicted": p, "lang": e.lang}
              for e, p in zip(examples, predicted, strict=True) if e.label != p]  # fmt: skip
    write_jsonl(folder / "errors.jsonl", errors)
    png = folder / "confusion_matrix.png"
    plot_confusion(gold, predicted, png)
    return {"report": str(folder / "classification_report.txt"), "confusion_matrix": str(png)}


def plot_confusion(gold: Sequence[str], predicted: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(gold) | set(predicted))
    matrix = confusion_matrix(gold, predicted, labels=labels, normalize="true")
    size = max(6.0, 0.28 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"intent confusion (row-normalised, n={len(gold)})")
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_eval_intent(args: argparse.Namespace) -> dict[str, Any]:
    folder = ModelSpec(args.model).resolve()
    if not folder.is_dir():
        raise ParlaError(f"--model {args.model} is not a folder")
    classifier = load_intent_model_folder(folder, IntentConfig(model=str(folder)))
    examples = read_intent_file(args.test)
    empty = [i for i, e in enumerate(examples, 1) if not e.text.strip()]
    if empty:
        raise ParlaError(f"{args.test}: example {empty[0]} has an empty text")
    metrics, predicted = evaluate_intents(classifier, examples)
    if args.report:
        metrics["files"] = write_report(Path(args.report), examples, predicted, metrics)
    return metrics
