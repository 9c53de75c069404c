"""Retrieval benchmarks: quality on the demo help centre, and speed/memory at scale.

    python -m eval.bench_retrieval demo    # recall@1/5, MRR@10 per language, cross-lingual
    python -m eval.bench_retrieval scale   # flat vs HNSW: latency, recall, build time, memory

Each prints one JSON object on stdout and a Markdown table on stderr. The scale benchmark uses
synthetic vectors shaped like real e5 passages (see ``SyntheticE5``) so it can reach
1M chunks without embedding 1M texts on two CPU cores; latency is measured on one core.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.threads import passive_openmp

logger = logging.getLogger(__name__)

SCALE_SIZES = (10_000, 100_000, 1_000_000)
CROSSOVER_SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
LATENCY_QUERIES = 1_000  # single queries timed one by one
RECALL_K = 10
HNSW_EF_SWEEP = (16, 32, 64, 128, 256, 512)  # search effort values tried on the same graph


# --- scale ------------------------------------------------------------------------------------


class SyntheticE5:
    """Unit vectors with the mean and covariance of real e5 passage vectors.

    Two shapes. ``clustered``: help-centre chunks come in groups about one topic, so vectors
    are drawn around cluster centres (themselves drawn from the fitted Gaussian) with the full
    real spread, ``cluster_size`` per centre, and queries around random centres; on the demo
    this matches real queries' top-1 / top-10 cosines (0.89 / 0.83 against 0.88 / 0.86).
    ``gaussian``: every vector and query an independent draw, no structure at all: the hard
    case for a graph index.
    """

    SHAPES = ("clustered", "gaussian")

    def __init__(self, real: np.ndarray, rng: np.random.Generator, cluster_size: int = 10):
        self.mean = real.mean(axis=0)
        _, s, vt = np.linalg.svd(real - self.mean, full_matrices=False)
        self.basis = (s[:, None] * vt) / np.sqrt(len(real))  # principal axes scaled by their sd
        self.rng = rng
        self.cluster_size = cluster_size

    def _draw(self, count: int) -> np.ndarray:
        z = self.rng.standard_normal((count, len(self.basis)), dtype=np.float32)
        return z @ self.basis.astype(np.float32)

    def vectors(self, n: int, shape: str) -> tuple[np.ndarray, np.ndarray]:
        """``n`` vectors, and the centres to draw queries around."""
        per_centre = self.cluster_size if shape == "clustered" else 1
        centres = self.mean + self._draw(max(1, n // per_centre))
        out = np.empty((n, len(self.mean)), dtype=np.float32)
        for start in range(0, n, 100_000):  # in blocks: 1M x 384 temporaries double memory
            stop = min(n, start + 100_000)
            owners = np.arange(start, stop) // per_centre % len(centres)
            out[start:stop] = centres[owners]
            if shape == "clustered":
                out[start:stop] += self._draw(stop - start)
        return _unit(out), centres

    def queries(self, count: int, centres: np.ndarray, shape: str) -> np.ndarray:
        if shape == "gaussian":
            return _unit(self.mean + self._draw(count))
        picks = self.rng.integers(0, len(centres), count)
        return _unit(centres[picks] + self._draw(count))


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (vectors and indexes included)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_single_queries(index: Any, queries: np.ndarray, k: int) -> dict[str, float]:
    """p50/p95 of one query at a time on one core (the way a chat turn searches).

    ``p50_ms``/``p95_ms`` are CPU time of the searching thread (FAISS runs one OpenMP thread
    here, in this thread): what one dedicated core takes, even on a machine shared with other
    jobs. ``wall_*`` are wall-clock times, which include waiting for the core when it is busy.
    """
    import faiss

    faiss.omp_set_num_threads(1)
    affinity = _pin_to_one_core()
    for q in queries[:20]:  # warm caches
        index.search(q[None, :], k)
    cpu, wall = [], []
    for q in queries:
        started, started_cpu = time.perf_counter(), time.thread_time()
        index.search(q[None, :], k)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    if affinity is not None:
        os.sched_setaffinity(0, affinity)
    return {
        "p50_ms": round(float(np.percentile(cpu, 50)), 3),
        "p95_ms": round(float(np.percentile(cpu, 95)), 3),
        "wall_p50_ms": round(float(np.percentile(wall, 50)), 3),
        "wall_p95_ms": round(float(np.percentile(wall, 95)), 3),
    }


def _pin_to_one_core() -> set[int] | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return before


def recall_vs_exact(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx_ids, exact_ids, strict=True))
    return hits / exact_ids.size


def build_timed(kind: str, vectors: np.ndarray, settings: Any) -> tuple[Any, dict[str, float]]:
    from dataclasses import replace

    from retrieval.vectors import VectorIndex

    started, started_cpu = time.perf_counter(), time.process_time()
    index = VectorIndex.build(vectors, replace(settings, kind=kind), vectors.shape[1])
    return index, {
        "build_s": round(time.perf_counter() - started, 2),
        "build_cpu_s": round(time.process_time() - started_cpu, 2),  # all threads together
        "memory_mb": round(index_bytes(index.cpu_index) / 1e6, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def index_bytes(index: Any) -> int:
    """What the index holds in memory (and on disk): the vectors, plus the HNSW graph."""
    size = index.ntotal * index.d * 4
    hnsw = getattr(index, "hnsw", None)
    if hnsw is not None:
        size += hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4
    return int(size)


def scale_row(n: int, real: np.ndarray, settings: Any, shape: str) -> dict[str, Any]:
    """Flat and HNSW at ``n`` chunks: build time, memory, latency, HNSW recall@10 vs flat."""
    import faiss

    synth = SyntheticE5(real, np.random.default_rng(n))
    vectors, centres = synth.vectors(n, shape)
    queries = synth.queries(LATENCY_QUERIES, centres, shape)
    row: dict[str, Any] = {"chunks": n, "shape": shape}
    flat, row["flat"] = build_timed("flat", vectors, settings)
    row["flat"].update(time_single_queries(flat.cpu_index, queries, RECALL_K))
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    _, exact = flat.cpu_index.search(queries, RECALL_K)
    del flat
    hnsw, row["hnsw"] = build_timed("hnsw", vectors, settings)
    del vectors
    row["hnsw"]["ef_search"] = {}
    for ef in HNSW_EF_SWEEP:
        hnsw.cpu_index.hnsw.efSearch = ef
        timed = time_single_queries(hnsw.cpu_index, queries, RECALL_K)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        _, approx = hnsw.cpu_index.search(queries, RECALL_K)
        timed["recall@10_vs_exact"] = round(recall_vs_exact(approx, exact), 4)
        row["hnsw"]["ef_search"][ef] = timed
    row["hnsw"].update(row["hnsw"]["ef_search"][settings.hnsw_ef_search])
    return row


def crossover(real: np.ndarray, settings: Any, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Single-query latency of flat and HNSW at small sizes: where HNSW starts to pay."""
    rows = []
    for n in sizes:
        synth = SyntheticE5(real, np.random.default_rng(n))
        vectors, centres = synth.vectors(n, "clustered")
        queries = synth.queries(300, centres, "clustered")
        flat, _ = build_timed("flat", vectors, settings)
        hnsw, built = build_timed("hnsw", vectors, settings)
        _, exact = flat.cpu_index.search(queries, RECALL_K)
        _, approx = hnsw.cpu_index.search(queries, RECALL_K)
        rows.append({
            "chunks": n,
            "flat_p50_ms": time_single_queries(flat.cpu_index, queries, RECALL_K)["p50_ms"],
            "hnsw_p50_ms": time_single_queries(hnsw.cpu_index, queries, RECALL_K)["p50_ms"],
            "hnsw_recall@10": round(recall_vs_exact(approx, exact), 4),
            "hnsw_build_cpu_s": built["build_cpu_s"],
        })  # fmt: skip
    return rows


def real_passage_vectors(index_dir: Path | None) -> np.ndarray:
    """Real e5 passage vectors to shape the synthetic ones: the demo index's chunks."""
    from agent.config import RetrievalConfig
    from retrieval.builder import index_settings
    from retrieval.knowledge_base import resolve_index_dir
    from retrieval.store import read_index

    folder = index_dir or resolve_index_dir(RetrievalConfig().index)
    snapshot = read_index(folder, index_settings(RetrievalConfig()))
    return np.concatenate([p.index.vectors() for p in snapshot.partitions.values()])


def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    from agent.config import RetrievalConfig
    from retrieval.builder import index_settings

    settings = index_settings(RetrievalConfig())
    real = real_passage_vectors(Path(args.index) if args.index else None)
    out: dict[str, Any] = {"real_vectors": len(real), "settings": settings.__dict__}
    if not args.skip_crossover:
        out["crossover"] = crossover(real, settings, CROSSOVER_SIZES)
    out["scale"] = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for shape in args.shapes.split(","):
            logger.info("scale benchmark: %d chunks, %s", n, shape)
            out["scale"].append(scale_row(n, real, settings, shape))
            print(json.dumps(out["scale"][-1]), file=sys.stderr, flush=True)
    return out


def scale_markdown(result: dict[str, Any]) -> str:
    lines = [
        "| chunks | vectors | flat build s | flat MB | flat p50/p95 ms | HNSW build s (CPU s) "
        "| HNSW MB | HNSW p50/p95 ms | HNSW recall@10 vs exact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["scale"]:
        f, h = r["flat"], r["hnsw"]
        lines.append(
            f"| {r['chunks']:,} | {r['shape']} | {f['build_s']} | {f['memory_mb']} "
            f"| {f['p50_ms']}/{f['p95_ms']} | {h['build_s']} ({h['build_cpu_s']}) "
            f"| {h['memory_mb']} | {h['p50_ms']}/{h['p95_ms']} | {h['recall@10_vs_exact']} |"
        )
    if "crossover" in result:
        lines += [
            "",
            "| chunks | flat p50 ms | HNSW p50 ms | HNSW recall@10 |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['chunks']:,} | {r['flat_p50_ms']} | {r['hnsw_p50_ms']} | {r['hnsw_recall@10']} |"
            for r in result["crossover"]
        ]
    return "\n".join(lines)


# --- demo help centre -------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Recall on the demo's questions: all languages in one index, and against English only."""
    import tempfile

    if not args.work:  # the indexes are only for this run
        with tempfile.TemporaryDirectory(prefix="parla-bench-") as work:
            return run_demo(argparse.Namespace(**{**vars(args), "work": work}))
    from agent.config import RetrievalConfig
    from agent.datasets import demo_kb_dir
    from eval.retrieval import LabelledQuery, evaluate
    from retrieval.builder import build_index
    from retrieval.embedding import load_embedder
    from retrieval.knowledge_base import KnowledgeBase
    from retrieval.setup import demo_crosslingual_queries, demo_queries, demo_train_queries

    config = RetrievalConfig()
    work = Path(args.work)
    embedder = load_embedder(config.embedder, batch_size=config.embed_batch_size)
    kbs = {}
    for name, source in (("all", demo_kb_dir()), ("en", demo_kb_dir() / "en")):
        train = demo_train_queries(english_only=name == "en") if args.adapter else ()
        folder = work / f"index-{name}{'-adapted' if args.adapter else ''}"
        snapshot, _ = build_index(source, folder, embedder, config, train)
        kbs[name] = KnowledgeBase(embedder, snapshot, config, folder)
    out: dict[str, Any] = {
        "embedder": config.embedder,
        "languages": kbs["all"].languages,
        "query_adapter": args.adapter,
    }
    for split in args.splits.split(","):
        same = [
            LabelledQuery(q["query"], tuple(q["relevant"]), q["lang"]) for q in demo_queries(split)
        ]
        cross = [
            LabelledQuery(q["query"], tuple(q["relevant"]), q["lang"])
            for q in demo_crosslingual_queries(split)
        ]
        out[split] = evaluate(kbs["all"], same)
        out[f"crosslingual-{split}"] = evaluate(kbs["en"], cross)
    out["threshold"] = threshold_check(kbs["all"], config.min_score)
    return out


def threshold_check(kb: Any, min_score: float) -> dict[str, Any]:
    """How well the index's "no relevant passage" decision separates answerable questions
    from out-of-scope requests: overall, per language (with the thresholds the index
    calibrated, ``learned``), and the one global threshold that would balance them best."""
    from agent.datasets import OUT_OF_SCOPE, demo_intents, demo_responder

    answerable = [(q.question, q.lang) for q in demo_responder("test")]
    out_of_scope = [(x.text, x.lang) for x in demo_intents("test") if x.label == OUT_OF_SCOPE]
    (best_in, kept), (best_out, passed) = _best(kb, answerable), _best(kb, out_of_scope)
    grid = np.round(np.arange(0.70, 0.95, 0.005), 3)
    balanced = [((best_in >= t).mean() + (best_out < t).mean()) / 2 for t in grid]
    best_t = float(grid[int(np.argmax(balanced))])
    langs_in = np.array([lang for _, lang in answerable])
    langs_out = np.array([lang for _, lang in out_of_scope])
    return {
        "min_score": min_score,
        "learned": (kb.snapshot.manifest.adapter or {}).get("min_score_by_language", {}),
        "answerable_kept": round(float(kept.mean()), 4),
        "out_of_scope_rejected": round(float(1 - passed.mean()), 4),
        "by_language": {
            lang: {
                "answerable_kept": round(float(kept[langs_in == lang].mean()), 4),
                "out_of_scope_rejected": round(float(1 - passed[langs_out == lang].mean()), 4),
            }
            for lang in sorted(set(langs_in) & set(langs_out))
        },
        "best_balanced_threshold": best_t,
        "balanced_accuracy_at_best": round(float(max(balanced)), 4),
        "answerable_median_score": round(float(np.median(best_in)), 4),
        "out_of_scope_median_score": round(float(np.median(best_out)), 4),
        "n_answerable": len(best_in),
        "n_out_of_scope": len(best_out),
    }


def _best(kb: Any, questions: list[tuple[str, str | None]]) -> tuple[np.ndarray, np.ndarray]:
    """Each question's best passage score, and whether the index calls it relevant."""
    results = kb.search_many([q for q, _ in questions], [lang for _, lang in questions])
    scores = np.array([max((p.score for p in r.passages), default=0.0) for r in results])
    return scores, np.array([r.relevant for r in results])


def demo_markdown(result: dict[str, Any]) -> str:
    from eval.retrieval import markdown_table

    parts = []
    for name, value in result.items():
        if isinstance(value, dict) and "per_language" in value:
            parts += [f"### {name}", "", markdown_table(value), ""]
    t = result["threshold"]
    parts.append(
        f"min_score {t['min_score']} (per language as calibrated: {t['learned']}): "
        f"keeps {t['answerable_kept']:.1%} of answerable questions, "
        f"rejects {t['out_of_scope_rejected']:.1%} of out-of-scope ones "
        f"(best balanced threshold {t['best_balanced_threshold']})"
    )
    return "\n".join(parts)


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    passive_openmp()  # as `parla` runs (agent.threads)
    parser = argparse.ArgumentParser(prog="python -m eval.bench_retrieval")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("scale", help="flat vs HNSW at 10k/100k/1M synthetic chunks")
    p.add_argument("--sizes", default=",".join(map(str, SCALE_SIZES)))
    p.add_argument("--index", help="index whose vectors shape the synthetic ones (default: demo)")
    p.add_argument("--shapes", default="clustered,gaussian", help="synthetic vector shapes")
    p.add_argument("--skip-crossover", action="store_true")
    p = sub.add_parser("demo", help="recall on the demo help centre, same- and cross-lingual")
    p.add_argument("--work", help="folder for the benchmark's indexes (default: a temp folder)")
    p.add_argument("--splits", default="test", help="comma-separated: valid,test")
    p.add_argument(
        "--no-adapter", dest="adapter", action="store_false", help="measure e5 off the shelf"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    for noisy in ("faiss", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(2)  # the machine's two cores, shared
    if args.what == "scale":
        result = run_scale(args)
        table = scale_markdown(result)
    else:
        result = run_demo(args)
        table = demo_markdown(result)
    print(table, file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
