"""Whole-agent benchmarks: text-turn latency, concurrent sessions, memory.

    python -m eval.bench_agent [--seconds 120] [--sessions 20]

Prints JSON and a Markdown table. Latency is per stage (p50/p95) and end to end, on the demo
test questions in every language; the concurrency run keeps N sessions talking for a fixed
time, each with its own order number, and checks that no reply ever names another session's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from agent.messages import Turn
from agent.threads import passive_openmp

logger = logging.getLogger(__name__)


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "torch_threads": torch.get_num_threads()}


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {
        "p50": round(float(np.percentile(arr, 50)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
        "n": len(values),
    }


def bench_text_turns(loaded: Any, questions: list[tuple[str, str]]) -> dict[str, Any]:
    """Latency of one text turn per question, each in a fresh session, after a warm-up."""
    loaded.agent.respond(Turn(text=questions[0][0]), loaded.sessions.get("warm-up"))
    stages: dict[str, list[float]] = defaultdict(list)
    for i, (text, _lang) in enumerate(questions):
        result = loaded.agent.respond(Turn(text=text), loaded.sessions.get(f"bench-{i}"))
        for stage, ms in result.trace.latency_ms.items():
            stages[stage].append(ms)
    return {stage: percentiles(v) for stage, v in sorted(stages.items())}


def bench_concurrency(
    loaded: Any, sessions: int, seconds: float, questions: list[tuple[str, str]]
) -> dict[str, Any]:
    """N sessions, each in a loop: a help-centre question (retrieval and responder), then its
    order (slot filling): errors, leaks of another session's order number, memory over time."""
    stop = time.monotonic() + seconds
    counts, errors, leaks, memory = defaultdict(int), [], [], [rss_mb()]

    def talk(i: int) -> None:
        number = f"VT-{90000000 + i:08d}"
        session = loaded.sessions.get(f"conc-{i}")
        asked = 0
        while time.monotonic() < stop:
            try:
                question = questions[(i + asked * sessions) % len(questions)][0]
                asked += 1
                loaded.agent.respond(Turn(text=question), session)
                loaded.agent.respond(Turn(text="Where is my order?"), session)
                result = loaded.agent.respond(Turn(text=f"It is {number}"), session)
                others = [f"VT-{90000000 + j:08d}" for j in range(sessions) if j != i]
                if (
                    any(o in result.reply.text for o in others)
                    or session.entities.get("order_number") != number
                ):
                    leaks.append(i)
                counts[i] += 3
            except Exception as exc:  # noqa: BLE001 - counted, not raised: the benchmark reports it
                errors.append(repr(exc))

    def sample() -> None:
        while time.monotonic() < stop:
            time.sleep(min(5.0, seconds / 4))
            memory.append(rss_mb())

    threads = [threading.Thread(target=talk, args=(i,)) for i in range(sessions)]
    threads.append(threading.Thread(target=sample))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "sessions": sessions,
        "seconds": seconds,
        "turns": sum(counts.values()),
        "turns_per_s": round(sum(counts.values()) / seconds, 2),
        "errors": len(errors),
        "first_errors": errors[:3],
        "leaks": len(leaks),
        "rss_mb_start": round(memory[0]),
        "rss_mb_peak": round(max(memory)),
        "rss_mb_end": round(memory[-1]),
        "rss_mb_second_half_growth": round(memory[-1] - memory[len(memory) // 2]),
        "rss_mb_samples": [round(m) for m in memory],
    }


def demo_questions(per_language: int = 20) -> list[tuple[str, str]]:
    from agent.datasets import demo_responder

    by_lang: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for e in demo_responder("test"):
        if len(by_lang[e.lang]) < per_language:
            by_lang[e.lang].append((e.question, e.lang))
    return [q for items in by_lang.values() for q in items]


def markdown(result: dict[str, Any]) -> str:
    lines = ["| stage | p50 ms | p95 ms |", "|---|---|---|"]
    for stage, p in result["text_turn_ms"].items():
        lines.append(f"| {stage} | {p['p50']} | {p['p95']} |")
    for c in result.get("concurrency", []):
        lines += [
            "",
            f"{c['sessions']} sessions for {c['seconds']} s: {c['turns']} turns "
            f"({c['turns_per_s']}/s), {c['errors']} errors, {c['leaks']} leaks, RSS "
            f"{c['rss_mb_start']} -> {c['rss_mb_end']} MB (peak {c['rss_mb_peak']}; "
            f"{c['rss_mb_second_half_growth']:+d} MB in the second half)",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    passive_openmp()  # as `parla` runs (agent.threads)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--sessions", default="1,4,16,20", help="comma-separated session counts")
    parser.add_argument("--per-language", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from agent.config import load_config
    from agent.loading import load_agent

    with tempfile.TemporaryDirectory(prefix="parla-bench-") as work:  # the real log stays clean
        return _run(load_agent(load_config(), store_path=Path(work) / "log.sqlite"), args)


def _run(loaded: Any, args: argparse.Namespace) -> dict[str, Any]:
    result = {"machine": machine(), "rss_mb_loaded": round(rss_mb())}
    questions = demo_questions(args.per_language)
    result["text_turn_ms"] = bench_text_turns(loaded, questions)
    if args.seconds > 0:
        runs = [
            bench_concurrency(loaded, int(n), args.seconds, questions)
            for n in args.sessions.split(",")
        ]
        result["concurrency"] = runs
    print(json.dumps(result, indent=2))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
