"""A whole app on fake stages, for the UI's tests: deterministic, instant, no model loaded.

The knowledge base here is real enough to be re-indexed: it reads a folder of documents (with
the real readers) and answers by keyword overlap, so "upload, re-index, ask" can be tested.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from agent.config import AgentConfig, UIConfig
from agent.messages import AudioIn, Passage, Reply, SpeechOut, Transcript
from agent.pipeline import Agent, Stages
from agent.policy import load_policy
from agent.session import SessionStore
from agent.store import ConversationStore
from tests.fakes import FakeEntities, FakeIntents, FakeOrders, FakeRouter
from ui.chat_page import AppContext
from ui.knowledge import FolderKnowledgeBase
from ui.serving import free_port

KB_FILES = {
    "en/returns.md": "---\ntitle: Return policy\nlang: en\n---\n# Return policy\n\n"
    "You can return items within 30 days of delivery. Returns are free.\n",
    "es/devoluciones.md": "---\ntitle: Política de devoluciones\nlang: es\n---\n"
    "# Política de devoluciones\n\nPuedes devolver tus productos en un plazo de 30 días "
    "desde la entrega. La devolución es gratuita.\n",
    "en/stores.md": "---\ntitle: Store opening hours\nlang: en\n---\n# Store opening hours\n\n"
    "Our stores open from 9:30 to 20:00, Monday to Saturday.\n",
}
SLOW_WORD = "slowly"  # a question containing it takes SLOW_S seconds to answer
SLOW_S = 4.0


def write_kb(folder: Path) -> Path:
    for rel, text in KB_FILES.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


@dataclass(frozen=True)
class FakeSearch:
    passages: tuple[Passage, ...]
    relevant: bool


class KeywordKnowledgeBase:
    """Documents of a folder, searched by shared words; an ``IndexBackend`` for the KB tab."""

    def __init__(self, folder: Path) -> None:
        self.documents_ = self._read(folder)
        self.updates = 0

    @staticmethod
    def _read(folder: Path) -> tuple:
        from retrieval.documents import read_knowledge_base

        return read_knowledge_base(folder).documents

    def search(self, query: str, language: str | None, k: int) -> FakeSearch:
        words = {w for w in re.findall(r"\w{4,}", query.lower())}
        scored = []
        for d in self.documents_:
            found = words & set(re.findall(r"\w{4,}", f"{d.title} {d.text}".lower()))
            if found:
                score = 0.6 + 0.4 * len(found) / len(words)
                scored.append(Passage(d.doc_id, d.title, d.text, d.language, score))
        scored.sort(key=lambda p: -p.score)
        return FakeSearch(tuple(scored[:k]), bool(scored))

    # IndexBackend
    def indexed(self) -> dict[str, str]:
        return {d.doc_id: d.content_hash for d in self.documents_}

    def update(self, kb_dir: Path, progress) -> dict:
        progress(0.3, "Reading the documents…")
        time.sleep(0.3)  # long enough for the page to show the bar once
        self.documents_ = self._read(kb_dir)
        self.updates += 1
        return {"documents": len(self.documents_)}


class TopPassageResponder:
    """Answers with the best passage; a question with ``SLOW_WORD`` takes ``SLOW_S`` seconds
    (or, inside ``held``, until the test releases it)."""

    def __init__(self) -> None:
        self.gate, self.hold_s = threading.Event(), SLOW_S

    def generate(self, question, language, intent, passages, history=()):
        if SLOW_WORD in question.lower():
            self.gate.wait(self.hold_s)
        if not passages:
            return Reply("NO ANSWER", language, (), True, "no_answer")
        top = passages[0]
        return Reply(
            top.text.split("\n")[-1].strip(), top.language, (top.doc_id,), True, "extractive"
        )


@contextmanager
def held(ctx: AppContext):
    """Slow questions wait until the block calls the function it gets (or a minute passes)."""
    responder = ctx.agent.stages.responder
    responder.gate, responder.hold_s = threading.Event(), 60.0
    try:
        yield responder.gate.set
    finally:
        responder.gate.set()
        responder.gate, responder.hold_s = threading.Event(), SLOW_S


class FakeTranscriber:
    """Hears ``text`` in any recording longer than half a second (silence: nothing)."""

    def __init__(self, text: str = "¿Puedo devolver un producto?", language: str = "es") -> None:
        self.text, self.language = text, language

    def transcribe(self, audio: AudioIn, language: str | None = None) -> Transcript:
        if float(np.abs(audio.samples).max(initial=0.0)) < 1e-3:
            return Transcript("", language or self.language, 0.5, no_speech=True)
        return Transcript(self.text, language or self.language, 0.97, duration_s=audio.duration_s)


class FakeSynthesizer:
    def synthesize(self, text: str, language: str) -> SpeechOut:
        t = np.arange(int(0.6 * 16_000)) / 16_000
        return SpeechOut(
            (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000, "fake", "a"
        )


def make_context(
    tmp: Path, ui: UIConfig | None = None, transcriber=None, synthesizer=None
) -> AppContext:
    """Fake text stages; fake voice stages unless real ones are given."""
    kb_dir = write_kb(tmp / "kb")
    knowledge = KeywordKnowledgeBase(kb_dir)
    stages = Stages(
        FakeRouter(),
        FakeIntents(),
        FakeEntities(),
        knowledge,
        TopPassageResponder(),
        transcriber=transcriber or FakeTranscriber(),
        synthesizer=synthesizer or FakeSynthesizer(),
        orders=FakeOrders(),
    )
    agent = Agent(stages, load_policy(), AgentConfig(), ConversationStore(tmp / "log.sqlite"))
    reports = tmp / "reports"
    return AppContext(
        agent,
        SessionStore(),
        ui=ui or UIConfig(),
        knowledge=FolderKnowledgeBase(kb_dir, knowledge),
        reports_root=reports,
    )


def write_wav(path: Path, seconds: float, rate: int = 16_000, silent: bool = False) -> Path:
    """A mono 16-bit WAV: a tone (a stand-in for speech) or silence."""
    from speech.audio import write_wav as write_speech

    t = np.arange(int(seconds * rate)) / rate
    samples = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * 220 * t)
    return write_speech(SpeechOut(samples.astype(np.float32), rate, "tone", ""), path)


class Server:
    """The app served on a free loopback port in this process (``with Server(...) as url``)."""

    def __init__(self, ctx: AppContext, auth=None) -> None:
        from ui.app import build_app

        self.ctx = ctx
        self.ui = replace(ctx.ui, port=free_port())
        self.app = build_app(ctx)
        self.auth = auth
        self.url = ""

    def __enter__(self) -> str:
        from ui.serving import serve

        allowed = [self.ctx.reports_root] if self.ctx.reports_root else []
        self.url = serve(self.app, self.ui, self.auth, allowed, block=False)
        return self.url

    def __exit__(self, *exc) -> None:
        self.app.close()


def serve_forever(tmp: Path) -> None:
    """Run the fake app until killed (``python -m tests.ui_fakes DIR``: look at it by hand)."""
    with Server(make_context(tmp)) as url:
        print(url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    import sys

    serve_forever(Path(sys.argv[1]))
