"""``parla index build``: ingest a folder or file into a FAISS index (incrementally)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

from agent.config import RetrievalConfig, load_config
from retrieval.builder import BuildReport, build_index
from retrieval.embedding import load_embedder
from retrieval.queries import read_queries

logger = logging.getLogger(__name__)


def cmd_index_build(args: argparse.Namespace) -> dict[str, Any]:
    config = _retrieval_config(args)
    embedder = load_embedder(
        config.embedder, "cuda" if config.device == "gpu" else "cpu", config.embed_batch_size
    )
    train = read_queries(args.train_queries) if getattr(args, "train_queries", None) else ()
    snapshot, report = build_index(args.kb, Path(args.out), embedder, config, train)
    result = report_json(report, Path(args.out), config)
    result["query_adapter"] = snapshot.manifest.adapter
    return result


def _retrieval_config(args: argparse.Namespace) -> RetrievalConfig:
    config = load_config(getattr(args, "config", None), getattr(args, "set", None)).retrieval
    if getattr(args, "embedder", None):
        config = dataclasses.replace(config, embedder=args.embedder)
    return config


def report_json(report: BuildReport, out: Path, config: RetrievalConfig) -> dict[str, Any]:
    """The contract's keys (documents, chunks, seconds) first, then the details."""
    return {
        "documents": report.documents,
        "chunks": report.chunks,
        "seconds": report.seconds,
        "out": str(out),
        "embedder": config.embedder,
        "added": len(report.added),
        "updated": len(report.updated),
        "removed": len(report.removed),
        "unchanged": report.unchanged,
        "embedded_chunks": report.embedded,
        "languages": {lang: p["chunks"] for lang, p in report.partitions.items()},
        "index_kinds": {lang: p["kind"] for lang, p in report.partitions.items()},
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }
