"""``parla eval entities [--data F]``: entity extraction against annotated spans.

Two views: *strict* (type, character span and normalised value must all match) and *value*
(type and normalised value, wherever found). Precision, recall and F1 overall, per type and per
language. The default data is the demo's ``entities/entities.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.datasets import iter_jsonl
from agent.entities import EntityExtractor, load_entity_extractor
from agent.errors import ParlaError

Key = tuple[str, ...]


def read_annotations(path: str | None) -> list[dict[str, Any]]:
    from agent.datasets import demo_entities

    rows = demo_entities() if path is None else list(iter_jsonl(Path(path)))
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get("text"), str) or not isinstance(row.get("entities"), list):
            raise ParlaError(f"{path or 'demo entities'}: row {number} needs text and entities")
    if not rows:
        raise ParlaError(f"{path} holds no annotated rows")
    return rows


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": tp + fn}  # fmt: skip


class _Tally:
    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}

    def add(self, group: str, gold: Counter[Key], found: Counter[Key]) -> None:
        c = self.counts.setdefault(group, Counter())
        c["tp"] += sum((gold & found).values())
        c["fp"] += sum((found - gold).values())
        c["fn"] += sum((gold - found).values())

    def scores(self) -> dict[str, dict[str, float]]:
        return {g: _prf(c["tp"], c["fp"], c["fn"]) for g, c in sorted(self.counts.items())}


def evaluate_entities(
    extractor: EntityExtractor, rows: Iterable[dict[str, Any]], types: Iterable[str] | None = None
) -> dict[str, Any]:
    """Strict and value-level scores; only ``types`` (default: those annotated) are counted."""
    rows = list(rows)
    wanted = set(types or {e["type"] for r in rows for e in r["entities"]})
    strict, value, errors = _Tally(), _Tally(), []
    started = time.perf_counter()
    for row in rows:
        lang = row.get("lang", "?")
        found = [e for e in extractor.extract(row["text"], lang) if e.type in wanted]
        gold = [e for e in row["entities"] if e["type"] in wanted]
        _add_views(strict, "strict", lang, gold, found)
        _add_views(value, "value", lang, gold, found)
        g = {(e["type"], e["start"], e["end"], e["value"]) for e in gold}
        f = {(e.type, e.start, e.end, e.value) for e in found}
        if g != f:
            errors.append({"text": row["text"], "missing": sorted(g - f), "extra": sorted(f - g)})
    elapsed = time.perf_counter() - started
    s, v = strict.scores(), value.scores()
    return {
        "n": len(rows),
        "f1": s["all"]["f1"], "precision": s["all"]["precision"], "recall": s["all"]["recall"],
        "value_f1": v["all"]["f1"],
        "per_type": {k[5:]: x for k, x in s.items() if k.startswith("type:")},
        "per_language": {k[5:]: x["f1"] for k, x in s.items() if k.startswith("lang:")},
        "ms_per_text": round(1000 * elapsed / max(1, len(rows)), 3),
        "errors": errors,
    }  # fmt: skip


def _add_views(tally: _Tally, view: str, lang: str, gold: list[dict], found: list) -> None:
    def key(t: str, s: int, e: int, v: str) -> Key:
        return (t, str(s), str(e), v) if view == "strict" else (t, v)

    g_all = Counter(key(e["type"], e["start"], e["end"], e["value"]) for e in gold)
    f_all = Counter(key(e.type, e.start, e.end, e.value) for e in found)
    tally.add("all", g_all, f_all)
    tally.add(f"lang:{lang}", g_all, f_all)
    for t in {k[0] for k in g_all} | {k[0] for k in f_all}:
        tally.add(f"type:{t}", Counter({k: n for k, n in g_all.items() if k[0] == t}),
                  Counter({k: n for k, n in f_all.items() if k[0] == t}))  # fmt: skip


def cmd_eval_entities(args: argparse.Namespace) -> dict[str, Any]:
    rows = read_annotations(getattr(args, "data", None))
    result = evaluate_entities(load_entity_extractor(), rows)
    if getattr(args, "report", None):
        folder = Path(args.report)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "entities.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    result["errors"] = len(result["errors"])
    return result
