"""Labelled questions: JSONL ``{"query", "relevant": [document ids], "lang"?}``.

The same format serves to measure an index (``parla eval retrieval``) and to teach one
(``parla index build --train-queries``): past questions with the article that answered them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from agent.datasets import iter_jsonl
from agent.errors import ParlaError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    relevant: tuple[str, ...]
    """Ids of the documents that answer it (any of them counts)."""
    lang: str | None = None
    """The asker's language; None searches every language."""


def read_queries(path: str | Path) -> list[LabelledQuery]:
    path = Path(path)
    queries = []
    for number, row in enumerate(iter_jsonl(path), 1):
        query, relevant = row.get("query"), row.get("relevant")
        if isinstance(relevant, str):
            relevant = [relevant]
        if not isinstance(query, str) or not query.strip() or not relevant:
            raise ParlaError(f"{path}:{number}: needs a query and a non-empty relevant list")
        queries.append(LabelledQuery(query, tuple(map(str, relevant)), row.get("lang")))
    if not queries:
        raise ParlaError(f"{path} holds no queries")
    return queries
