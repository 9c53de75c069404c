"""``parla chat`` and ``parla voice``: one turn (or an interactive session) from the terminal.

A ``--session ID`` spans processes: its state is kept in the conversation store, so
``parla chat "where is my order?" --session s1`` then ``parla chat VT-20481736 --session s1``
completes the request.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from agent.errors import ParlaError
from agent.messages import Turn, TurnResult

logger = logging.getLogger(__name__)


def result_json(result: TurnResult, session_id: str) -> dict[str, Any]:
    """The contract's JSON for one turn (../shared/docs/cli-contract.md)."""
    t = result.trace
    out: dict[str, Any] = {
        "reply": result.reply.text,
        "language": result.reply.language,
        "intent": {
            "label": t.intent.label,
            "confidence": round(t.intent.confidence, 4),
            "alternatives": [
                {"label": a.label, "confidence": round(a.confidence, 4)}
                for a in t.intent.alternatives
            ],
        },
        "entities": [{"type": e.type, "text": e.text, "value": e.value} for e in t.entities],
        "sources": [
            {"id": p.doc_id, "title": p.title, "score": round(p.score, 4)}
            for p in t.passages
            if p.doc_id in result.reply.cited_ids
        ]
        or [{"id": p.doc_id, "title": p.title, "score": round(p.score, 4)} for p in t.passages[:1]],
        "action": t.action,
        "responder_path": t.responder_path,
        "latency_ms": t.latency_ms,
        "session": session_id,
        "language_decision": {
            "source": t.language.source,
            "confidence": t.language.confidence,
            "evidence": t.language.evidence,
        },
        "notes": list(t.notes),
    }
    if result.ticket:
        out["ticket"] = result.ticket
    if t.transcript is not None:
        out["transcript"] = t.transcript.text
    return out


def _load(args: argparse.Namespace, voice: bool):
    from agent.config import load_config
    from agent.loading import load_agent

    config = load_config(getattr(args, "config", None), getattr(args, "set", None))
    index = Path(args.index) if getattr(args, "index", None) else None
    return load_agent(config, index_dir=index, voice=voice)


def _run_turn(args: argparse.Namespace, turn: Turn, voice: bool) -> tuple[TurnResult, str]:
    bundle = _load(args, voice)
    session = bundle.open_session(args.session)
    result = bundle.agent.respond(turn, session)
    bundle.close_session(session)
    return result, session.id


def cmd_chat(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.text is None:
        return _interactive(args)
    if not args.text.strip():
        raise ParlaError("the message is empty: type a question")
    result, sid = _run_turn(args, Turn(text=args.text, language=args.lang), voice=False)
    out = result_json(result, sid)
    if not args.json:
        _print_turn(out)
        return None
    return out


def cmd_voice(args: argparse.Namespace) -> dict[str, Any] | None:
    from agent.loading import decode_turn_audio, write_wav

    bundle = _load(args, voice=True)
    audio = decode_turn_audio(bundle, args.audio)
    session = bundle.open_session(args.session)
    result = bundle.agent.respond(Turn(audio=audio, language=args.lang, speak=True), session)
    bundle.close_session(session)
    out = result_json(result, session.id)
    out["audio_out"] = None
    if result.speech is not None:
        path = Path(args.out or "parla-reply.wav")
        write_wav(result.speech, path)
        out["audio_out"] = str(path)
    if not args.json:
        _print_turn(out)
        return None
    return out


def _print_turn(out: dict[str, Any]) -> None:
    if "transcript" in out:
        print(f"you said ({out['language']}): {out['transcript']}")
    print(out["reply"])
    sources = ", ".join(f"{s['title']} ({s['id']})" for s in out["sources"])
    print(
        f"  [{out['action']} · {out['intent']['label']} {out['intent']['confidence']:.2f}"
        f" · {out['language']}{' · ' + sources if sources else ''}]",
        file=sys.stderr,
    )


def _interactive(args: argparse.Namespace) -> None:
    bundle = _load(args, voice=False)
    session = bundle.open_session(args.session)
    print("Parla: type a message (empty line or Ctrl-D to quit).", file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            break
        result = bundle.agent.respond(Turn(text=line, language=args.lang), session)
        _print_turn(result_json(result, session.id))
    bundle.close_session(session)


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    """Logged turns (masked) as intent training lines for the next fine-tune."""
    from agent.datasets import write_jsonl
    from agent.models import parla_home
    from agent.store import ConversationStore

    store = ConversationStore(parla_home() / "conversations.sqlite")
    rows = store.export_training(args.min_confidence)
    write_jsonl(Path(args.out), rows)
    return {"out": args.out, "examples": len(rows)}
