"""Readers for the data formats of ``../shared/docs/cli-contract.md``, and the demo data.

Intent data: JSONL ``{"text", "label", "lang"?}`` or CSV with ``text`` and ``label`` (or
``category``) columns. Responder data: JSONL ``{"question", "answer", "lang", "intent"?,
"passages"?}``. The demo help centre (``data/demo``) adds a ``split`` field to each line, so one
file per language holds train, valid and test.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
SPLITS = ("train", "valid", "test")
OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class IntentExample:
    text: str
    label: str
    lang: str | None = None


@dataclass(frozen=True)
class ResponderExample:
    question: str
    answer: str
    lang: str
    intent: str | None = None
    article: str | None = None
    """Demo only: the id of the article the answer comes from."""
    passages: tuple[str, ...] = ()


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Objects of a JSONL file; a malformed line is a one-line error naming the line."""
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ParlaError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise ParlaError(f"{path}:{number}: expected a JSON object")
                yield obj
    except FileNotFoundError:
        raise ParlaError(f"data file not found: {path}") from None
    except UnicodeDecodeError:
        raise ParlaError(f"{path} is not UTF-8 text") from None


def read_intent_file(path: str | Path, split: str | None = None) -> list[IntentExample]:
    """Intent examples from JSONL or CSV; ``split`` keeps only lines with that ``split`` field."""
    path = Path(path)
    rows = _read_csv(path) if path.suffix.lower() == ".csv" else list(iter_jsonl(path))
    examples = []
    for number, row in enumerate(rows, 1):
        if split is not None and row.get("split", split) != split:
            continue
        label = row.get("label", row.get("category"))
        text = row.get("text")
        if not isinstance(text, str) or not isinstance(label, str) or not label.strip():
            raise ParlaError(
                f"{path}: row {number} needs a text and a label (got keys {sorted(row)})"
            )
        examples.append(IntentExample(text.strip(), label.strip(), row.get("lang")))
    if not examples:
        raise ParlaError(f"{path} holds no intent examples")
    return examples


def _read_csv(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = set(reader.fieldnames or [])
            if "text" not in fields or not fields & {"label", "category"}:
                raise ParlaError(f"{path}: CSV header must name text and label (or category)")
            return list(reader)
    except FileNotFoundError:
        raise ParlaError(f"data file not found: {path}") from None
    except UnicodeDecodeError:
        raise ParlaError(f"{path} is not UTF-8 text") from None


def read_responder_file(path: str | Path, split: str | None = None) -> list[ResponderExample]:
    path = Path(path)
    examples = []
    for number, row in enumerate(iter_jsonl(path), 1):
        if split is not None and row.get("split", split) != split:
            continue
        try:
            question, answer, lang = row["question"], row["answer"], row["lang"]
        except KeyError as exc:
            raise ParlaError(f"{path}:{number}: missing key {exc.args[0]!r}") from None
        passages = tuple(row.get("passages") or ())
        examples.append(
            ResponderExample(
                question, answer, lang, row.get("intent"), row.get("article"), passages
            )
        )
    if not examples:
        raise ParlaError(f"{path} holds no responder examples")
    return examples


# --- the demo help centre --------------------------------------------------------------------


def demo_languages() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in (DEMO_DIR / "intents").glob("*.jsonl")))


def demo_kb_dir() -> Path:
    return DEMO_DIR / "kb"


def demo_intents(split: str, languages: tuple[str, ...] | None = None) -> list[IntentExample]:
    """The demo's intent examples of one split, all languages unless given."""
    out: list[IntentExample] = []
    for lang in languages or demo_languages():
        out += read_intent_file(DEMO_DIR / "intents" / f"{lang}.jsonl", split=split)
    return out


def demo_responder(split: str, languages: tuple[str, ...] | None = None) -> list[ResponderExample]:
    out: list[ResponderExample] = []
    for lang in languages or demo_languages():
        out += read_responder_file(DEMO_DIR / "responder" / f"{lang}.jsonl", split=split)
    return out


def demo_entities() -> list[dict[str, Any]]:
    return list(iter_jsonl(DEMO_DIR / "entities" / "entities.jsonl"))


def demo_dialogues() -> list[dict[str, Any]]:
    return list(iter_jsonl(DEMO_DIR / "dialogues" / "dialogues.jsonl"))


def demo_catalog() -> list[dict[str, Any]]:
    return json.loads((DEMO_DIR / "catalog.json").read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
