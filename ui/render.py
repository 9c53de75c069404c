"""What the page shows for a turn: chat messages, sources, the why panel, badges.

Pure functions from the agent's messages (``TurnResult``, ``Trace``) to the plain data and
Markdown/HTML the Gradio components display, so the look of a turn is tested without a server.
Everything that comes from a user or a document is HTML-escaped before it is shown.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from agent.messages import Passage, Trace, Transcript, TurnResult

LANGUAGE_NAMES = {
    "en": "English",
    "zh": "中文",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "pt": "Português",
}
AUTO = "auto"  # the language selector's "detect it for me" choice
SNIPPET_CHARS = 220  # a source's snippet under its title
ARTICLE_CHARS = 6_000  # an opened article is cut here (the chat is not a document viewer)
MIC = "🎙️"

Message = dict[str, Any]  # one Chatbot message: {"role", "content", "metadata"?}
ArticleLookup = Callable[[str], str | None]  # document id -> its full text (Markdown) or None


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code.upper())


def language_choices(languages: Sequence[str]) -> list[tuple[str, str]]:
    """(label, value) pairs for the language selector: auto first, then each language."""
    return [("Auto-detect", AUTO)] + [(f"{language_name(c)} ({c})", c) for c in languages]


def user_message(text: str, voice: bool = False) -> Message:
    return {"role": "user", "content": f"{MIC} {text}" if voice else text}


def pending_message(title: str) -> Message:
    """A spinner in Parla's bubble while a stage works."""
    return {"role": "assistant", "content": "", "metadata": {"title": title, "status": "pending"}}


def heard_text(transcript: Transcript | None) -> str:
    """What the user said in a voice turn, as shown in their bubble."""
    if transcript is None:
        return ""
    return transcript.text.strip() or "(no speech heard)"


def shown_sources(result: TurnResult) -> list[Passage]:
    """The passages the reply rests on: the cited ones, else the best one of an answer."""
    passages = result.trace.passages
    cited = [p for p in passages if p.doc_id in result.reply.cited_ids]
    if cited:
        return list(_unique_docs(cited))
    if result.trace.action == "answer" and result.reply.path != "no_answer" and passages:
        return [passages[0]]
    return []


def _unique_docs(passages: Sequence[Passage]) -> list[Passage]:
    best: dict[str, Passage] = {}
    for p in passages:
        if p.doc_id not in best or p.score > best[p.doc_id].score:
            best[p.doc_id] = p
    return sorted(best.values(), key=lambda p: -p.score)


def reply_messages(result: TurnResult, article: ArticleLookup | None = None) -> list[Message]:
    """Parla's side of a finished turn: the reply, then (in the same group) its sources."""
    out: list[Message] = [{"role": "assistant", "content": result.reply.text}]
    sources = shown_sources(result)
    if sources:
        out.append({"role": "assistant", "content": sources_markdown(sources, article)})
    return out


def sources_markdown(passages: Sequence[Passage], article: ArticleLookup | None = None) -> str:
    """Each source: title, score, snippet, and the whole article behind a click."""
    blocks = [f'<div class="parla-sources-head">📚 Sources ({len(passages)})</div>']
    for p in passages:
        full = (article(p.doc_id) if article else None) or p.text
        blocks.append(
            f'<div class="parla-source"><span class="parla-source-title">{_esc(p.title)}</span> '
            f'<span class="parla-score" title="similarity to your question">{p.score:.2f}</span> '
            f'<code class="parla-docid">{_esc(p.doc_id)}</code></div>'
            f'<div class="parla-snippet">{_esc(_shorten(_body(p.text), SNIPPET_CHARS))}</div>'
            f'<details class="parla-article"><summary>Open the article</summary>'
            f'<div class="parla-article-text">{article_html(full)}</div></details>'
        )
    return "\n\n".join(blocks)


def article_html(text: str) -> str:
    """A document's text, readable: its ``#`` headings bold, its list items as bullets."""
    lines = []
    for line in _shorten(text, ARTICLE_CHARS).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            lines.append(f"<strong>{_esc(stripped.lstrip('#').strip())}</strong>")
        elif stripped.startswith(("- ", "* ")):
            lines.append(f"• {_esc(stripped[2:])}")
        else:
            lines.append(_esc(stripped))
    return "<br>".join(lines).replace("<br><br><br>", "<br><br>")


def _body(text: str) -> str:
    """A passage without its heading lines (the title is shown above it)."""
    return " ".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def language_badge(trace: Trace | None, override: str = AUTO) -> str:
    """The language indicator: what the turn was answered in, and who decided."""
    if override and override != AUTO:
        return _badge(f"🌐 {language_name(override)} · chosen by you")
    if trace is None:
        return _badge("🌐 Language: detected from your first message")
    lang = trace.language
    who = {
        "user": "chosen by you",
        "speech": "heard in your voice",
        "text": "detected in your text",
        "session": "kept from the conversation",
        "default": "default",
    }.get(lang.source, lang.source)
    return _badge(f"🌐 {language_name(lang.code)} · {who} ({lang.confidence:.0%})")


def handoff_banner(ticket: str | None) -> str:
    if not ticket:
        return ""
    return (
        '<div class="parla-handoff" role="status">🧑‍💼 <b>Handed to a human.</b> '
        f"Ticket <b>{_esc(ticket)}</b>: a colleague sees the whole conversation and takes it "
        "from here. You can keep writing; start a new conversation to talk to Parla again.</div>"
    )


def status_html(text: str, kind: str = "info") -> str:
    """The one-line status under the chat: what just happened (errors included)."""
    if not text:
        return ""
    return f'<div class="parla-status parla-{kind}" role="status">{_esc(text)}</div>'


def why_markdown(result: TurnResult | None) -> str:
    """The why panel: every decision of the turn, with its evidence and timing."""
    if result is None:
        return "_Ask something: the reasons behind Parla's answer appear here._"
    t = result.trace
    parts = [
        _why_language(t),
        _why_intent(t),
        _why_entities(t),
        _why_passages(t),
        f"**Responder** · path `{t.responder_path}` · grounded: "
        f"{'yes' if result.reply.grounded else 'no'}",
        _why_latency(t.latency_ms),
    ]
    if t.notes:
        parts.append("**Notes**\n\n" + "\n".join(f"- {_esc(n)}" for n in t.notes))
    return "\n\n".join(p for p in parts if p)


def _why_language(t: Trace) -> str:
    lang = t.language
    line = (
        f"**Language** · {language_name(lang.code)} (`{lang.code}`) · {lang.confidence:.2f} · "
        f"decided by *{lang.source}*"
    )
    if lang.evidence:
        line += f"  \n{_esc(lang.evidence)}"
    if t.transcript is not None:
        tr = t.transcript
        line += (
            f"  \nSpeech: {tr.duration_s:.1f} s, recogniser heard `{tr.language}` "
            f"({tr.language_probability:.2f})" + (", no speech" if tr.no_speech else "")
        )
    return line


def _why_intent(t: Trace) -> str:
    i = t.intent
    line = f"**Intent** · `{i.label or '-'}` · {i.confidence:.2f} ({i.source})"
    line += f" · action `{t.action}`"
    if t.handled_as and t.handled_as != i.label:
        line += f" · served as `{t.handled_as}`"
    if i.alternatives:
        alts = ", ".join(f"`{a.label}` {a.confidence:.2f}" for a in i.alternatives)
        line += f"  \nAlternatives: {alts}"
    return line


def _why_entities(t: Trace) -> str:
    if not t.entities:
        return "**Entities** · none"
    rows = [f"| {e.type} | {_cell(e.text)} | `{_cell(e.value)}` |" for e in t.entities]
    return "**Entities**\n\n| type | text | value |\n|---|---|---|\n" + "\n".join(rows)


def _why_passages(t: Trace) -> str:
    if not t.passages:
        return "**Passages** · none retrieved"
    rows = [
        f"{n}. {p.score:.3f} · **{_esc(p.title)}** · `{p.doc_id}` · {p.language}"
        for n, p in enumerate(t.passages, 1)
    ]
    return "**Passages** (similarity, title, document, language)\n\n" + "\n".join(rows)


def _why_latency(latency: dict[str, float]) -> str:
    if not latency:
        return ""
    total = latency.get("total") or max(latency.values()) or 1.0
    rows = []
    for stage, ms in latency.items():
        bar = "▇" * max(1, round(16 * ms / total)) if ms > 0 else ""
        value = f"{ms:,.0f}" if ms >= 10 else f"{ms:.1f}"
        rows.append(f"| {stage} | {value} | `{bar}` |" if bar else f"| {stage} | {value} | |")
    return "**Latency** (ms)\n\n| stage | ms | |\n|---|---:|:---|\n" + "\n".join(rows)


def _badge(text: str) -> str:
    return f'<span class="parla-badge">{_esc(text)}</span>'


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split()) if limit <= SNIPPET_CHARS else text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return _esc(text).replace("|", "\\|").replace("\n", " ")


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)
