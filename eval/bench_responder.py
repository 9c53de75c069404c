"""Responder latency: ``python -m eval.bench_responder [--model DIR] [--n 60]``.

Times ``Responder.generate`` (selection + generation + guard) on demo test questions with their
retrieved passages (retrieval itself is timed by its own benchmark), in three settings:

- ``cold``: a fresh process's first sight of each passage (sentence vectors not cached yet);
- ``warm``: the same questions again (a help centre's sentences are cached after first use);
- ``forced_40``: generation forced to exactly 40 new tokens, the issue's reference reply length
  (and never abandoned as hopeless: ``give_up_below`` off), the worst case of a rewrite.

Prints JSON and a Markdown table. Timings on a shared machine are pessimistic: other jobs
take CPU time from the measured one, so ``cpu_ms`` (this process's CPU time per reply) is
printed beside the wall-clock times.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import resource
import statistics
import time
from typing import Any

from agent.threads import passive_openmp

logger = logging.getLogger(__name__)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_replies(responder, cases) -> dict[str, Any]:
    walls, cpus, paths, tokens = [], [], [], []
    for question, lang, intent, passages in cases:
        wall, cpu = time.perf_counter(), _cpu()
        reply = responder.generate(question, lang, intent, passages)
        walls.append(1000 * (time.perf_counter() - wall))
        cpus.append(1000 * (_cpu() - cpu))
        paths.append(reply.path)
        tokens.append(len(reply.text.split()))
    walls.sort()
    return {
        "n": len(walls),
        "p50_ms": round(statistics.median(walls), 1),
        "p90_ms": round(walls[int(0.9 * (len(walls) - 1))], 1),
        "cpu_ms_p50": round(statistics.median(cpus), 1),
        "generated": round(paths.count("generated") / len(paths), 3),
    }


def cases_from_demo(n: int, index: str | None) -> list[tuple]:
    from agent.datasets import demo_responder
    from eval.responder_retrieval import load_search

    search = load_search(index)
    examples = demo_responder("test")
    step = max(1, len(examples) // n)
    picked = examples[::step][:n]
    out = []
    for e in picked:
        result = search(e.question, e.lang)
        out.append((e.question, e.lang, e.intent, tuple(result.passages)))
    return out


def run(model: str, n: int, index: str | None, threads: int) -> dict[str, Any]:
    import torch

    from agent.config import ResponderConfig
    from agent.responder import Responder, load_responder

    torch.set_num_threads(threads)
    config = ResponderConfig(model=model)
    started = time.perf_counter()
    responder = load_responder(config)
    load_s = time.perf_counter() - started
    cases = cases_from_demo(n, index)
    results = {"load_s": round(load_s, 2), "threads": threads}
    results["cold"] = time_replies(responder, cases)
    results["warm"] = time_replies(responder, cases)
    forced = dataclasses.replace(config, min_new_tokens=40, max_new_tokens=40)
    rewriter = responder.rewriter
    if rewriter is not None and hasattr(rewriter, "settings"):
        rewriter.settings = dataclasses.replace(
            rewriter.settings, min_new_tokens=40, max_new_tokens=40, give_up_below=float("-inf")
        )
    forced_responder = Responder(responder.selector, rewriter, responder.guard, forced)
    results["forced_40"] = time_replies(forced_responder, cases)
    extractive = Responder(
        responder.selector, None, responder.guard, dataclasses.replace(config, use_rewriter=False)
    )
    results["extractive_only"] = time_replies(extractive, cases)
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| setting | n | p50 ms | p90 ms | CPU ms p50 | generated |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("cold", "warm", "forced_40", "extractive_only"):
        r = results[name]
        lines.append(
            f"| {name} | {r['n']} | {r['p50_ms']} | {r['p90_ms']} | {r['cpu_ms_p50']} "
            f"| {r['generated']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    passive_openmp()  # as `parla` runs (agent.threads)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo:responder")
    parser.add_argument("--index")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = run(args.model, args.n, args.index, args.threads)
    print(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
