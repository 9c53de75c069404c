"""``parla eval retrieval``: recall@k and MRR@10 of an index on labelled queries.

Queries are JSONL ``{"query", "relevant": [document ids], "lang"?}``. Metrics are computed on
documents, not chunks: the passages of each result are reduced to their documents, in rank
order, and a query is a hit at k when one of its relevant documents is among the first k.
``lang`` is passed to the search as the user's language (so cross-lingual fallback is part of
what is measured); a query without it is searched in every language.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.config import load_config
from retrieval.knowledge_base import KnowledgeBase, load_knowledge_base, resolve_index_dir
from retrieval.queries import LabelledQuery, read_queries
from retrieval.store import read_manifest

logger = logging.getLogger(__name__)

CUTOFFS = (1, 5, 10)
FETCH_PASSAGES = 50  # passages per query: enough to hold 10 distinct documents
BATCH = 64  # questions embedded together: evaluation measures ranking, not latency
LATENCY_SAMPLE = 20  # questions timed one at a time


def rank_of_first_relevant(doc_ids: Sequence[str], relevant: Sequence[str]) -> int | None:
    """1-based rank of the first relevant document among distinct ``doc_ids``, or None."""
    ranked = list(dict.fromkeys(doc_ids))
    for rank, doc_id in enumerate(ranked, 1):
        if doc_id in relevant:
            return rank
    return None


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks)
    out: dict[str, float] = {"n": n}
    for k in CUTOFFS:
        out[f"recall@{k}"] = round(sum(r is not None and r <= k for r in ranks) / n, 4)
    out["mrr@10"] = round(sum(1 / r for r in ranks if r is not None and r <= 10) / n, 4)
    return out


def evaluate(kb: KnowledgeBase, queries: Sequence[LabelledQuery]) -> dict[str, Any]:
    """Overall and per-language recall@1/5/10 and MRR@10, plus single-query latency."""
    ranks: list[int | None] = []
    by_lang: dict[str, list[int | None]] = defaultdict(list)
    fallbacks = irrelevant = 0
    for start in tqdm(range(0, len(queries), BATCH), desc="queries", unit="batch", leave=False):
        batch = queries[start : start + BATCH]
        results = kb.search_many([q.query for q in batch], [q.lang for q in batch], FETCH_PASSAGES)
        for q, result in zip(batch, results, strict=True):
            rank = rank_of_first_relevant([p.doc_id for p in result.passages], q.relevant)
            ranks.append(rank)
            by_lang[q.lang or "any"].append(rank)
            fallbacks += result.fallback
            irrelevant += not result.relevant
    out: dict[str, Any] = metrics(ranks)
    out["per_language"] = {lang: metrics(r) for lang, r in sorted(by_lang.items())}
    out["fallback_rate"] = round(fallbacks / len(queries), 4)
    out["no_relevant_rate"] = round(irrelevant / len(queries), 4)
    out.update(single_query_latency(kb, queries))
    return out


def single_query_latency(kb: KnowledgeBase, queries: Sequence[LabelledQuery]) -> dict[str, float]:
    """One question at a time, the way a chat turn searches (embedding included)."""
    step = max(1, len(queries) // LATENCY_SAMPLE)
    times = []
    for q in queries[::step][:LATENCY_SAMPLE]:
        started = time.perf_counter()
        kb.search(q.query, q.lang, kb.config.top_k)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "latency_ms_p50": round(float(np.percentile(times, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(times, 95)), 2),
    }


def cmd_eval_retrieval(args: argparse.Namespace) -> dict[str, Any]:
    index_dir = resolve_index_dir(args.index)  # a folder, or demo:index
    queries = read_queries(args.queries)
    config = load_config(getattr(args, "config", None), getattr(args, "set", None)).retrieval
    # Measure the index with the model that built it, unless one is asked for explicitly.
    embedder = getattr(args, "embedder", None) or read_manifest(index_dir).embedder
    config = dataclasses.replace(config, embedder=embedder)
    kb = load_knowledge_base(config, index_dir)
    result = evaluate(kb, queries)
    result.update(index=str(index_dir), queries=str(args.queries))
    if getattr(args, "report", None):
        report = Path(args.report)
        report.mkdir(parents=True, exist_ok=True)
        (report / "retrieval.json").write_text(json.dumps(result, indent=1) + "\n")
        (report / "retrieval.md").write_text(markdown_table(result) + "\n")
    return result


def markdown_table(result: dict[str, Any]) -> str:
    rows = [("all", result)] + list(result["per_language"].items())
    lines = [
        "| language | n | recall@1 | recall@5 | recall@10 | MRR@10 |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['n']} | {m['recall@1']:.3f} | {m['recall@5']:.3f} "
            f"| {m['recall@10']:.3f} | {m['mrr@10']:.3f} |"
        )
    return "\n".join(lines)
