"""The demo help centre's index and retrieval query files, built by ``parla setup``.

Query files follow the contract (``{"query", "relevant": [doc ids], "lang"}``) and come from
the demo responder data: each question's relevant document is ``<lang>/<article>.md``. The
cross-lingual files ask the non-English questions against an English-only index, built from
``data/demo/kb/en``, where the same article's id is ``<article>.md``.

The index learns a query adapter (``retrieval.adapter``) from the train and valid questions
(valid was used to choose the adapter's settings, then joins training: +4 points of
recall@1 on test); the test questions, the only ones written here, are never seen by it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agent.config import RetrievalConfig
from agent.datasets import demo_kb_dir, demo_responder, write_jsonl
from agent.models import demo_dir
from retrieval.builder import BuildReport, build_index
from retrieval.embedding import load_embedder
from retrieval.queries import LabelledQuery

logger = logging.getLogger(__name__)

TRAIN_SPLITS = ("train", "valid")  # what the demo index learns from
QUERY_SPLITS = ("test",)  # what it is measured on: never learned from


def build_demo_index(home: Path | None = None, config: RetrievalConfig | None = None) -> Path:
    """Build (or incrementally update) the demo index into ``demo_dir(home) / "index"``.

    Idempotent: a second run finds every document unchanged and embeds nothing. Also writes
    the demo's retrieval query files next to it (``demo_dir(home) / "retrieval"``).
    """
    config = config or RetrievalConfig()
    out = demo_dir(home) / "index"
    embedder = load_embedder(config.embedder, batch_size=config.embed_batch_size)
    _, report = build_index(demo_kb_dir(), out, embedder, config, demo_train_queries())
    _log(report, out)
    write_demo_queries(demo_dir(home) / "retrieval")
    return out


def demo_train_queries(
    english_only: bool = False, splits: tuple[str, ...] = TRAIN_SPLITS
) -> list[LabelledQuery]:
    """The demo's questions with their articles, to teach an index its query adapter.

    For the all-language index each question points at its own language's article, and each
    non-English one also at the English article (so a question in a language the help centre
    lacks still lands on the right article). For an index of ``kb/en`` alone the ids are
    ``<article>.md``.
    """
    out: list[LabelledQuery] = []
    for ex in (ex for split in splits for ex in demo_responder(split)):
        if not ex.article:
            continue
        if english_only:
            out.append(LabelledQuery(ex.question, (f"{ex.article}.md",), ex.lang))
            continue
        out.append(LabelledQuery(ex.question, (f"{ex.lang}/{ex.article}.md",), ex.lang))
        if ex.lang != "en":
            out.append(LabelledQuery(ex.question, (f"en/{ex.article}.md",), ex.lang))
    return out


def _log(report: BuildReport, out: Path) -> None:
    if report.embedded:
        logger.info("demo index %s: %d chunks embedded", out, report.embedded)
    else:
        logger.info("demo index %s is up to date", out)


def demo_queries(split: str) -> list[dict[str, Any]]:
    """Same-language queries: each demo question against its own language's article."""
    return [
        {"query": ex.question, "relevant": [f"{ex.lang}/{ex.article}.md"], "lang": ex.lang}
        for ex in demo_responder(split)
        if ex.article
    ]


def demo_crosslingual_queries(split: str, target: str = "en") -> list[dict[str, Any]]:
    """Questions in every other language against an index of ``kb/<target>`` only."""
    return [
        {"query": ex.question, "relevant": [f"{ex.article}.md"], "lang": ex.lang}
        for ex in demo_responder(split)
        if ex.article and ex.lang != target
    ]


def write_demo_queries(folder: Path) -> dict[str, Path]:
    """``test.jsonl`` and ``crosslingual-test.jsonl`` (the splits of ``QUERY_SPLITS``)."""
    written: dict[str, Path] = {}
    for split in QUERY_SPLITS:
        for name, rows in (
            (split, demo_queries(split)),
            (f"crosslingual-{split}", demo_crosslingual_queries(split)),
        ):
            path = folder / f"{name}.jsonl"
            write_jsonl(path, rows)
            written[name] = path
    return written
