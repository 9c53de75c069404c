"""The Gradio page: chat, knowledge base, evaluation. Layout and event wiring only.

What each event does lives in ``ui.chat_page``, ``ui.kb_page`` and ``ui.eval_page``. Named API
endpoints (``/send_text``, ``/send_voice``, ``/new_conversation``, ``/ask``, ``/kb_add``,
``/kb_reindex``, ``/kb_status``, ``/kb_documents``, ``/reports``) keep the page scriptable
from ``gradio_client``.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from agent.errors import ParlaError
from ui.chat_page import AppContext, ChatPage
from ui.eval_page import ReportsPage
from ui.kb_page import HEADERS, KnowledgePage
from ui.render import AUTO, language_choices, language_name
from ui.reports import reports_root

logger = logging.getLogger(__name__)

# The tab id lives in the page's sessionStorage: a reload keeps it, a new tab starts afresh.
READ_TAB_ID = """(tabId, language) => {
  const nav = performance.getEntriesByType('navigation')[0];
  const keep = nav && nav.type === 'reload';
  return [keep ? (sessionStorage.getItem('parla-tab') || '') : '', language];
}"""
FOCUS_INPUT = "() => { document.querySelector('#parla-input textarea')?.focus(); return []; }"
WRITE_TAB_ID = "(tabId) => { if (tabId) sessionStorage.setItem('parla-tab', tabId); return []; }"
EXAMPLES = (
    "Where is my order?",
    "¿Cuánto tiempo tengo para devolver un producto?",
    "Comment réinitialiser mon mot de passe ?",
    "Wie lange dauert die Lieferung?",
    "Posso pagar em prestações?",
    "我可以用哪些方式付款？",
)


def build_app(ctx: AppContext, chat: ChatPage | None = None) -> gr.Blocks:
    """The whole page. Serve it with ``ui.serving.serve`` (theme, CSS and limits live there)."""
    chat = chat or ChatPage(ctx)
    with gr.Blocks(title="Parla", analytics_enabled=False) as app:
        tab_id = gr.Textbox(visible="hidden", elem_id="parla-tab-id", label="tab id")
        _header(ctx)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat", elem_id="parla-chat-tab"):
                _chat_tab(chat, tab_id, app)
            with gr.Tab("Knowledge base", id="kb", elem_id="parla-kb-tab"):
                _kb_tab(KnowledgePage(ctx.knowledge) if ctx.knowledge else None, app)
            with gr.Tab("Evaluation", id="eval", elem_id="parla-eval-tab"):
                _eval_tab(ReportsPage(ctx.reports_root or reports_root(ctx.ui.reports_dir)), app)
        limit = ctx.ui.concurrency
        gr.api(
            _api_errors(chat.ask), api_name="ask", concurrency_id="turn", concurrency_limit=limit
        )
        tab_id.change(None, inputs=[tab_id], js=WRITE_TAB_ID, queue=False)
    return app


def _api_errors(ask: Any) -> Any:
    """``ChatPage.ask`` with its one-line errors passed to the API caller as they are."""

    async def ask_api(text: str, language: str = AUTO, session: str = "") -> dict:
        """One typed turn: the JSON of `parla chat --json`, plus the session to continue."""
        try:
            return await ask(text, language, session)
        except ParlaError as exc:
            raise gr.Error(str(exc)) from None

    return ask_api


def _header(ctx: AppContext) -> None:
    names = ", ".join(language_name(c) for c in ctx.languages)
    gr.HTML(
        '<div id="parla-header"><div class="logo">P</div><div>'
        f"<h1>Parla · {html.escape(ctx.title)}</h1>"
        f"<p>Type or speak in {names}. Answers come from the help centre, with their sources."
        "</p></div></div>"
    )


@dataclass
class _Chat:
    """The chat tab's components."""

    tab_id: gr.Textbox
    banner: gr.HTML
    bot: gr.Chatbot
    status: gr.HTML
    text: gr.Textbox
    send: gr.Button
    mic: gr.Audio
    badge: gr.HTML
    language: gr.Dropdown
    speak: gr.Checkbox
    reply_audio: gr.Audio
    new: gr.Button
    why: gr.Markdown

    @property
    def view(self) -> list[Any]:
        """The outputs every chat event updates, in ``ui.chat_page.VIEW`` order."""
        return [self.tab_id, self.bot, self.status, self.why, self.badge, self.banner,
                self.reply_audio]  # fmt: skip


def _chat_tab(chat: ChatPage, tab_id: gr.Textbox, app: gr.Blocks) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=7):
            left = _conversation_column(chat)
        with gr.Column(scale=4):
            right = _controls_column(chat)
    _chat_events(chat, _Chat(tab_id, *left, *right), app)


def _conversation_column(chat: ChatPage) -> tuple:
    banner = gr.HTML(elem_id="parla-handoff", label="handoff")
    bot = gr.Chatbot(
        elem_id="parla-chat",
        label="conversation",
        height=520,
        show_label=False,
        placeholder="**Hello!** Ask about orders, delivery, returns, payments or your "
        "account, in your own language. Type below or press **Record** and speak.",
        examples=[{"text": text} for text in EXAMPLES],
        buttons=["copy"],
        feedback_options=None,
    )
    status = gr.HTML(elem_id="parla-status", label="status")
    with gr.Row(equal_height=True):
        text = gr.Textbox(
            label="message",
            show_label=False,
            placeholder="Type your question in any language and press Enter…",
            elem_id="parla-input",
            scale=9,
            max_lines=6,
            interactive=False,  # until the page knows its conversation (see _ready)
        )
        send = gr.Button(
            "Send", variant="primary", elem_id="parla-send", scale=1, interactive=False
        )
    mic = gr.Audio(
        sources=["microphone", "upload"],
        type="filepath",
        label=f"Or speak: press Record, ask, press Stop (up to {chat.ctx.ui.max_audio_s:.0f} s)",
        elem_id="parla-mic",
        visible=chat.can_listen,
        buttons=[],
        waveform_options=gr.WaveformOptions(
            waveform_color="#a5b4fc", waveform_progress_color="#4f46e5"
        ),
    )
    gr.HTML(elem_id="parla-mic-hint")  # filled by the page's script (ui.style.head)
    return banner, bot, status, text, send, mic


def _controls_column(chat: ChatPage) -> tuple:
    badge = gr.HTML(elem_id="parla-badge", label="language")
    language = gr.Dropdown(
        language_choices(chat.ctx.languages),
        value=AUTO,
        label="Answer language",
        info="Auto-detect follows your words; pick one to force it.",
        elem_id="parla-language",
    )
    speak = gr.Checkbox(
        value=chat.ctx.ui.speak_replies and chat.can_speak,
        label="Read replies aloud",
        interactive=chat.can_speak,
        elem_id="parla-speak",
    )
    reply_audio = gr.Audio(
        label="Parla's voice",
        autoplay=True,
        interactive=False,
        elem_id="parla-reply-audio",
        visible=chat.can_speak,
        buttons=["download"],
        # the browser's own player: a real <audio> element, keyboard- and test-friendly
        waveform_options=gr.WaveformOptions(show_recording_waveform=False),
    )
    new = gr.Button("New conversation", elem_id="parla-new")
    with gr.Accordion("Why this answer", open=False, elem_id="parla-why-panel"):
        why = gr.Markdown(elem_id="parla-why", label="why")
    return badge, language, speak, reply_audio, new, why


def _chat_events(chat: ChatPage, c: _Chat, app: gr.Blocks) -> None:
    turn: dict[str, Any] = {
        "concurrency_id": "turn",
        "concurrency_limit": chat.ctx.ui.concurrency,
        "show_progress": "full",
        "show_progress_on": [c.status],  # the queue position shows in the status line
    }
    private: dict[str, Any] = {"api_visibility": "private"}  # the endpoint is named once
    typed: dict[str, Any] = {
        "fn": chat.send_text,
        "inputs": [c.text, c.language, c.speak, c.tab_id],
    }
    c.text.submit(**typed, outputs=c.view + [c.text], api_name="send_text", **turn)
    c.send.click(**typed, outputs=c.view + [c.text], **private, **turn)
    c.bot.example_select(_example_text, None, [c.text], queue=False, **private).then(
        **typed, outputs=c.view + [c.text], **private, **turn
    )
    spoken: dict[str, Any] = {
        "fn": chat.send_voice,
        "inputs": [c.mic, c.language, c.speak, c.tab_id],
    }
    c.mic.stop_recording(**spoken, outputs=c.view + [c.mic], api_name="send_voice", **turn)
    c.mic.upload(**spoken, outputs=c.view + [c.mic], **private, **turn)
    c.new.click(chat.new_conversation, [c.language], c.view, api_name="new_conversation")
    c.bot.clear(chat.new_conversation, [c.language], c.view, **private)
    c.language.change(chat.change_language, [c.language, c.tab_id], [c.badge], **private)
    app.load(
        _ready(chat),
        [c.tab_id, c.language],
        c.view + [c.text, c.send],
        js=READ_TAB_ID,
        concurrency_limit=None,
        show_progress="hidden",
        **private,
    ).then(None, js=FOCUS_INPUT, **private)


def _ready(chat: ChatPage) -> Callable[[str, str], AsyncIterator[tuple]]:
    """On page load: the tab's conversation, then the message box and Send open. A message
    sent before the page knew its conversation would start a second one, hidden by this view."""

    async def restore_then_open(tab_id: str, language: str) -> AsyncIterator[tuple]:
        async for view in chat.restore(tab_id, language):
            yield (*view, gr.update(interactive=True), gr.update(interactive=True))

    return restore_then_open


def _example_text(event: gr.SelectData) -> str:
    value = event.value
    return value.get("text", "") if isinstance(value, dict) else str(value)


def _kb_tab(page: KnowledgePage | None, app: gr.Blocks) -> None:
    if page is None:
        gr.Markdown("The knowledge base cannot be managed from this server (no folder was set).")
        return
    summary = gr.Markdown(elem_id="parla-kb-summary", label="summary")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            files = gr.File(
                file_count="multiple",
                label="Add documents (Markdown, text, HTML, FAQ CSV/JSONL, PDF)",
                elem_id="parla-kb-files",
            )
            add = gr.Button("Add and re-index", variant="primary", elem_id="parla-kb-add")
            upload_status = gr.HTML(elem_id="parla-kb-upload-status", label="upload status")
        with gr.Column(scale=2):
            reindex = gr.Button("Re-index now", elem_id="parla-kb-reindex")
            progress = gr.HTML(elem_id="parla-kb-progress", label="progress")
    table = gr.Dataframe(
        headers=HEADERS,
        interactive=False,
        wrap=True,
        elem_id="parla-kb-table",
        max_height=520,
        label="documents",
    )
    timer = gr.Timer(1.0, active=False)  # polls the re-index while it runs
    add.click(
        lambda uploaded: _kb_added(page, uploaded),
        [files],
        [upload_status, progress, timer, files, table, summary],
        api_name="kb_add",
        concurrency_limit=None,
    )
    _kb_progress_events(page, app, reindex, timer, [progress, timer, table, summary])

    def kb_documents() -> list[list[str]]:
        """Every document: id, title, language, status."""
        return page.table()[0]

    gr.api(kb_documents, api_name="kb_documents")


def _kb_added(page: KnowledgePage, uploaded: list | None) -> tuple:
    line, bar, running, rows, text = page.add(uploaded)
    return line, bar, gr.Timer(active=running), None, rows, text


def _kb_progress_events(
    page: KnowledgePage, app: gr.Blocks, reindex: gr.Button, timer: gr.Timer, outputs: list
) -> None:
    """The progress bar, the timer polling it, and the table once the re-index is over."""

    def start() -> tuple:
        bar, running = page.reindex()
        return bar, gr.Timer(active=running)

    def tick() -> tuple:
        bar, running = page.progress()
        if running:
            return bar, gr.skip(), gr.skip(), gr.skip()
        return (bar, gr.Timer(active=False), *page.table())

    reindex.click(start, None, outputs[:2], api_name="kb_reindex", concurrency_limit=None)
    quiet: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}
    timer.tick(tick, None, outputs, api_visibility="private", **quiet)
    app.load(tick, None, outputs, api_name="kb_status", **quiet)


def _eval_tab(page: ReportsPage, app: gr.Blocks) -> None:
    with gr.Row():
        folder = gr.Dropdown(label="Report", choices=[], elem_id="parla-report", scale=5)
        refresh = gr.Button("Refresh", scale=1, elem_id="parla-report-refresh")
    text = gr.Markdown(elem_id="parla-report-text", label="report")

    def latest() -> tuple:
        choices = page.choices()
        chosen = choices[0][1] if choices else None
        return gr.Dropdown(choices=choices, value=chosen), page.show(chosen)

    refresh.click(latest, None, [folder, text], api_name="reports", concurrency_limit=None)
    folder.input(page.show, [folder], [text], api_visibility="private")
    app.load(latest, None, [folder, text], api_visibility="private", concurrency_limit=None)
