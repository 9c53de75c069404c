"""What the app itself adds to a turn, measured through its web API on loopback.

    python -m eval.bench_ui [--turns 20] [--tabs 1,2,4] [--real] [--json]

- **overhead**: a typed turn's round trip through the page's API (``/send_text``, what the
  browser calls) minus the agent's own total latency (the overhead includes the conversation
  log's SQLite write, which the agent does after its timed ``total``), and the same turn
  through the JSON endpoint ``/ask`` (no page rendering);
- **voice**: for a 5-second recording, when the page has the transcript, the reply text and
  the finished turn with its audio (the page shows each as soon as it exists);
- **tabs**: N tabs talking at once, each turn spoken aloud: latency p50/p95 and turns per second
  with the app's bounded queue (``ui.concurrency`` turns at a time).

Without ``--real`` the stages are stand-ins that sleep for typical per-stage latencies
(``--simulate``; the defaults are this machine's Whisper-base, responder and Piper figures),
so the numbers isolate what the app adds. ``--real`` serves the demo agent that ``parla setup``
builds (its CPU time then competes with the app's).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from agent.config import UIConfig
from agent.messages import (
    AudioIn,
    Intent,
    LanguageDecision,
    Passage,
    Reply,
    SpeechOut,
    Transcript,
)
from agent.threads import passive_openmp
from eval.bench_agent import percentiles

logger = logging.getLogger(__name__)

SIMULATE = {"asr": 1.1, "responder": 0.3, "tts": 0.4}  # seconds per call (see module doc)
# about 5 seconds when spoken
QUESTION = "Hello, I bought headphones last week and they do not fit me. How can I return an item?"
TOTAL_MS = re.compile(r"\| total \| ([\d,.]+) \|")


class _Stage:
    """Every stage at once, instant or sleeping for a typical latency."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.passage = Passage("en/returns.md", "Return policy", "Returns are free.", "en", 0.9)

    def route(self, text, session_language, speech_language=None, user_choice=None):
        return LanguageDecision(user_choice or "en", 1.0, "text")

    def classify(self, text: str) -> Intent:
        return Intent("return_item", 0.95)

    def extract(self, text: str, language: str) -> tuple:
        return ()

    def search(self, query: str, language: str | None, k: int) -> Any:
        from retrieval.knowledge_base import SearchResult

        return SearchResult((self.passage,), True, language)

    def generate(self, question, language, intent, passages, history=()) -> Reply:
        time.sleep(self.seconds["responder"])
        return Reply("You can return any item within 30 days.", language, ("en/returns.md",))

    def transcribe(self, audio: AudioIn, language: str | None = None) -> Transcript:
        time.sleep(self.seconds["asr"])
        return Transcript(QUESTION, "en", 0.99, duration_s=audio.duration_s)

    def synthesize(self, text: str, language: str) -> SpeechOut:
        time.sleep(self.seconds["tts"])
        return SpeechOut(np.zeros(22_050 * 2, dtype=np.float32), 22_050, "simulated", "-")


def simulated_app(seconds: dict[str, float], workdir: Path, ui: UIConfig):
    from agent.pipeline import Agent, Stages
    from agent.policy import load_policy
    from agent.session import SessionStore
    from agent.store import ConversationStore
    from ui.app import build_app
    from ui.chat_page import AppContext

    s = _Stage(seconds)
    stages = Stages(s, s, s, s, s, transcriber=s, synthesizer=s)
    agent = Agent(stages, load_policy(), store=ConversationStore(workdir / "log.sqlite"))
    return build_app(AppContext(agent, SessionStore(), ui=ui, reports_root=workdir / "reports"))


def real_app(workdir: Path, ui: UIConfig):
    from agent.config import load_config
    from agent.models import parla_home
    from ui.commands import build_demo_app, ensure_setup, find_places

    ensure_setup(parla_home())
    places = find_places(argparse.Namespace(index=None, kb=None), load_config(), workdir)
    return build_demo_app(load_config(), ui, places)[0]


def bench_overhead(client: Any, turns: int) -> dict[str, Any]:
    """Round trip through the page's API minus the agent's own total, for typed turns."""
    tab = client.predict(QUESTION, "auto", False, "", api_name="/send_text")[0]  # warm-up
    round_trips, agent_ms = [], []
    for _ in range(turns):
        started = time.perf_counter()
        out = client.predict(QUESTION, "auto", False, tab, api_name="/send_text")
        round_trips.append((time.perf_counter() - started) * 1000)
        agent_ms.append(_agent_total_ms(out[3]))
    overhead = [rt - a for rt, a in zip(round_trips, agent_ms, strict=True)]
    json_api = []
    for _ in range(turns):
        started = time.perf_counter()
        client.predict(QUESTION, "auto", tab, api_name="/ask")
        json_api.append((time.perf_counter() - started) * 1000)
    return {
        "round_trip_ms": percentiles(round_trips),
        "agent_ms": percentiles(agent_ms),
        "overhead_ms": percentiles(overhead),
        "json_api_round_trip_ms": percentiles(json_api),
    }


def _agent_total_ms(why: str) -> float:
    """The agent's own total latency, as the why panel shows it."""
    found = TOTAL_MS.search(why)
    if found is None:
        raise RuntimeError("the why panel shows no total latency")
    return float(found.group(1).replace(",", ""))


def bench_voice(client: Any, recording: Path, turns: int) -> dict[str, Any]:
    """When the transcript, the reply text and the finished turn (with audio) reach the page."""
    from gradio_client import handle_file

    marks: dict[str, list[float]] = {"transcript_ms": [], "reply_text_ms": [], "done_ms": []}
    for _ in range(turns):
        started = time.perf_counter()
        seen: dict[str, float] = {}
        job = client.submit(handle_file(str(recording)), "auto", True, "", api_name="/send_voice")
        for out in job:
            _mark_voice_progress(out, seen, (time.perf_counter() - started) * 1000)
        job.result()
        seen.setdefault("done_ms", (time.perf_counter() - started) * 1000)
        for key in marks:
            marks[key].append(seen.get(key, seen["done_ms"]))
    return {key: percentiles(values) for key, values in marks.items()}


def _mark_voice_progress(out: tuple, seen: dict[str, float], now_ms: float) -> None:
    texts = [" ".join(c.get("text", "") for c in m["content"]) for m in out[1]]
    if texts and texts[0].startswith("🎙️") and texts[0] != "🎙️ …":
        seen.setdefault("transcript_ms", now_ms)
    if len(texts) > 1 and texts[1] and not texts[1].startswith("<"):
        seen.setdefault("reply_text_ms", now_ms)
    if "Answered in" in out[2]:
        seen.setdefault("done_ms", now_ms)


def bench_tabs(url: str, tabs: int, turns: int) -> dict[str, Any]:
    """``tabs`` clients talking at once, each turn spoken aloud."""
    from gradio_client import Client

    def talk(_: int) -> list[float]:
        client, tab, took = Client(url, verbose=False), "", []
        for _ in range(turns):
            started = time.perf_counter()
            tab = client.predict(QUESTION, "auto", True, tab, api_name="/send_text")[0]
            took.append((time.perf_counter() - started) * 1000)
        return took

    started = time.perf_counter()
    with ThreadPoolExecutor(tabs) as pool:
        latencies = [ms for per_tab in pool.map(talk, range(tabs)) for ms in per_tab]
    seconds = time.perf_counter() - started
    return {**percentiles(latencies), "turns_per_s": round(len(latencies) / seconds, 2)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from gradio_client import Client

    from ui.serving import free_port, serve

    seconds = {**SIMULATE, **_parse_simulate(args.simulate)}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ui = UIConfig(port=free_port(), concurrency=args.concurrency)
        app = real_app(workdir, ui) if args.real else simulated_app(seconds, workdir, ui)
        url = serve(app, ui, block=False)
        try:
            client = Client(url, verbose=False)
            out: dict[str, Any] = {
                "mode": "real" if args.real else {"simulated_s": seconds},
                "concurrency": args.concurrency,
                "overhead": bench_overhead(client, args.turns),
                "recording_s": round(audio_seconds(question := recording(workdir, args.real)), 2),
                "voice": bench_voice(client, question, args.voice_turns),
                "tabs": {n: bench_tabs(url, n, args.tab_turns) for n in args.tabs},
            }
        finally:
            app.close()
    return out


def recording(workdir: Path, real: bool) -> Path:
    """A 5-second question: spoken by the demo's English voice (real), else a tone."""
    from speech.audio import write_wav

    if real:
        from agent.config import TTSConfig
        from speech.tts import load_synthesizer

        speech = load_synthesizer(TTSConfig()).synthesize(QUESTION, "en")
    else:
        t = np.arange(5 * 16_000) / 16_000
        speech = SpeechOut((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000, "", "")
    return write_wav(speech, workdir / "question.wav")


def audio_seconds(path: Path) -> float:
    import soundfile

    return float(soundfile.info(str(path)).duration)


def _parse_simulate(text: str) -> dict[str, float]:
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    return {key.strip(): float(value) for key, value in pairs}


def markdown(out: dict[str, Any]) -> str:
    o, v = out["overhead"], out["voice"]
    rows = [
        "| measure | p50 | p95 |",
        "|---|---:|---:|",
        f"| typed turn, round trip through the page API (ms) | {o['round_trip_ms']['p50']} | "
        f"{o['round_trip_ms']['p95']} |",
        f"| of which the agent (ms) | {o['agent_ms']['p50']} | {o['agent_ms']['p95']} |",
        f"| app overhead (ms) | {o['overhead_ms']['p50']} | {o['overhead_ms']['p95']} |",
        f"| same turn through the JSON API `/ask` (ms) | {o['json_api_round_trip_ms']['p50']} | "
        f"{o['json_api_round_trip_ms']['p95']} |",
        f"| voice: transcript on the page (ms) | {v['transcript_ms']['p50']} | "
        f"{v['transcript_ms']['p95']} |",
        f"| voice: reply text on the page (ms) | {v['reply_text_ms']['p50']} | "
        f"{v['reply_text_ms']['p95']} |",
        f"| voice ({out.get('recording_s', '?')} s recording): turn done, audio ready (ms) | "
        f"{v['done_ms']['p50']} | {v['done_ms']['p95']} |",
    ]
    for tabs, t in out["tabs"].items():
        rows.append(
            f"| {tabs} tab(s) at once, spoken replies (ms; {t['turns_per_s']} turns/s) | "
            f"{t['p50']} | {t['p95']} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    passive_openmp()  # as `parla` runs (agent.threads)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20, help="typed turns for the overhead")
    parser.add_argument("--voice-turns", type=int, default=5)
    parser.add_argument("--tabs", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    parser.add_argument("--tab-turns", type=int, default=4, help="turns per tab")
    parser.add_argument("--concurrency", type=int, default=UIConfig().concurrency)
    parser.add_argument("--simulate", default="", help="stage=seconds,... e.g. asr=1.1,tts=0.4")
    parser.add_argument("--real", action="store_true", help="serve the demo agent instead")
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = run(args)
    print(json.dumps(out, indent=None if args.json else 2))
    if not args.json:
        print()
        print(markdown(out))


if __name__ == "__main__":
    main()
