"""``parla bench``: every benchmark in one run, results as JSON and Markdown in one folder.

Each benchmark is its own module (``python -m eval.bench_<name>``) run in a fresh process, so
one's memory and threads do not skew the next: the whole agent (text-turn latency per stage,
concurrent sessions, memory), speech (faster-whisper vs openai-whisper on the same clips,
short turns, TTS), retrieval (recall on the demo help centre), scale (index build and search
at 10k/100k/1M chunks), the intent model and the responder.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BENCHMARKS: dict[str, list[str]] = {
    "agent": ["eval.bench_agent", "--seconds", "120", "--sessions", "1,20"],
    "speech": ["eval.bench_speech", "--repeats", "2", "--tts-limit", "5"],
    "retrieval": ["eval.bench_retrieval", "demo"],
    "scale": ["eval.bench_retrieval", "scale"],
    "intent": ["eval.bench_intent"],
    "responder": ["eval.bench_responder"],
}
QUICK = {
    "agent": ["--seconds", "10", "--sessions", "4", "--per-language", "5"],
    "speech": ["--repeats", "1", "--tts-limit", "2"],
    "responder": ["--n", "12"],
    "intent": ["--latency-n", "50"],
    "scale": ["--sizes", "10000", "--skip-crossover"],
}


def run_benchmark(name: str, out: Path, quick: bool, timeout_s: float) -> dict[str, Any]:
    command = [sys.executable, "-m", *BENCHMARKS[name], *(QUICK.get(name, []) if quick else [])]
    started = time.monotonic()
    logger.info("bench %s: %s", name, " ".join(command[2:]))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        rc, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = 124, str(exc.stdout or ""), f"timed out after {timeout_s:.0f} s"
    (out / f"{name}.txt").write_text(stdout)
    if rc != 0:
        (out / f"{name}.stderr.txt").write_text(stderr[-20_000:])
    return {
        "rc": rc,
        "seconds": round(time.monotonic() - started, 1),
        "output": str(out / f"{name}.txt"),
    }


def cmd_bench(args: argparse.Namespace) -> dict[str, Any]:
    from agent.models import parla_home
    from eval.bench_agent import machine

    out = Path(args.out) if args.out else parla_home() / "bench" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    results = {name: run_benchmark(name, out, args.quick, args.timeout) for name in names}
    summary = {"out": str(out), "machine": machine(), "benchmarks": results}
    (out / "bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["# Parla benchmarks", "", f"Machine: {summary['machine']}", ""]
    for name, r in results.items():
        lines += [
            f"## {name} (rc {r['rc']}, {r['seconds']} s)",
            "",
            "```",
            Path(r["output"]).read_text()[-6000:],
            "```",
            "",
        ]
    (out / "bench.md").write_text("\n".join(lines))
    return summary
