"""What the page shows for a turn: messages, sources, the why panel, badges (no server)."""

from __future__ import annotations

import numpy as np

from agent.messages import (
    Entity,
    Intent,
    IntentScore,
    LanguageDecision,
    Passage,
    Reply,
    SpeechOut,
    Trace,
    Transcript,
    TurnResult,
)
from ui.render import (
    AUTO,
    article_html,
    handoff_banner,
    heard_text,
    language_badge,
    language_choices,
    reply_messages,
    shown_sources,
    status_html,
    why_markdown,
)

RETURNS = Passage(
    "es/devoluciones.md",
    "Política de devoluciones",
    "# Política de devoluciones\n\nPuedes devolver tus productos en 30 días.",
    "es",
    0.912,
)
STORES = Passage("en/stores.md", "Store hours", "Open 9:30-20:00.", "en", 0.55)


def result(action="answer", cited=("es/devoluciones.md",), path="extractive", **trace_kw):
    trace = Trace(
        LanguageDecision("es", 0.99, "text", "¿ and ñ in the text"),
        Intent("return_item", 0.93, (IntentScore("exchange", 0.04),)),
        action,
        passages=(RETURNS, STORES),
        responder_path=path,
        latency_ms={"intent": 12.5, "retrieval": 30.0, "total": 80.0},
        **trace_kw,
    )
    reply = Reply("Puedes devolverlo en 30 días.", "es", cited, True, path)
    return TurnResult(reply, trace)


def test_reply_shows_the_cited_source_with_title_score_snippet_and_article():
    messages = reply_messages(result(), article=lambda doc_id: "# Título\n\n- punto uno")
    assert messages[0] == {"role": "assistant", "content": "Puedes devolverlo en 30 días."}
    sources = messages[1]
    assert sources["role"] == "assistant" and "📚 Sources (1)" in sources["content"]
    assert '<span class="parla-source-title">Política de devoluciones</span>' in sources["content"]
    assert "0.91" in sources["content"] and "es/devoluciones.md" in sources["content"]
    assert "Puedes devolver tus productos" in sources["content"]  # the snippet
    assert "<summary>Open the article</summary>" in sources["content"]
    assert "<strong>Título</strong>" in sources["content"] and "• punto uno" in sources["content"]


def test_snippet_drops_the_heading_the_title_already_shows():
    content = reply_messages(result())[1]["content"]
    snippet = content.split('class="parla-snippet">')[1].split("</div>")[0]
    assert snippet.startswith("Puedes devolver") and "#" not in snippet


def test_no_sources_for_a_clarifying_question_or_a_no_answer():
    assert shown_sources(result(action="clarify", cited=())) == []
    assert shown_sources(result(cited=(), path="no_answer")) == []
    assert len(reply_messages(result(action="clarify", cited=()))) == 1


def test_an_answer_without_citations_shows_its_best_passage():
    assert shown_sources(result(cited=())) == [RETURNS]


def test_document_text_is_escaped_never_run():
    evil = Passage("x.md", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "en", 0.9)
    trace = Trace(LanguageDecision("en", 1, "text"), Intent("a", 1), "answer", passages=(evil,))
    content = reply_messages(TurnResult(Reply("ok", "en", ("x.md",)), trace))[1]["content"]
    assert "<script>" not in content and "<img" not in content
    assert "&lt;script&gt;" in content


def test_handoff_banner_shows_the_ticket():
    assert "TK-42" in handoff_banner("TK-42") and "Handed to a human" in handoff_banner("TK-42")
    assert handoff_banner(None) == ""


def test_why_panel_has_every_decision_and_its_timing():
    text = why_markdown(
        result(
            entities=(Entity("order_number", "vt 20481736", "VT-20481736"),),
            notes=("intent and passage",),
        )
    )
    for expected in (
        "Español",
        "¿ and ñ in the text",
        "`return_item` · 0.93",
        "`exchange` 0.04",
        "VT-20481736",
        "0.912 · **Política de devoluciones**",
        "path `extractive`",
        "| retrieval | 30 |",
        "| total | 80 |",
        "intent and passage",
    ):
        assert expected in text, expected


def test_why_panel_shows_what_the_recogniser_heard():
    heard = Transcript("hola", "es", 0.88, duration_s=2.5)
    assert "Speech: 2.5 s, recogniser heard `es` (0.88)" in why_markdown(result(transcript=heard))
    assert heard_text(heard) == "hola"
    assert heard_text(Transcript("", "es", 0.3, no_speech=True)) == "(no speech heard)"


def test_why_panel_before_any_turn_invites_a_question():
    assert "Ask something" in why_markdown(None)


def test_language_badge_says_who_decided():
    assert "Español · detected in your text (99%)" in language_badge(result().trace)
    assert "Deutsch · chosen by you" in language_badge(result().trace, "de")
    assert "first message" in language_badge(None, AUTO)


def test_language_choices_start_with_auto_and_use_native_names():
    choices = language_choices(("en", "zh", "es"))
    assert choices[0] == ("Auto-detect", AUTO)
    assert ("中文 (zh)", "zh") in choices and ("Español (es)", "es") in choices


def test_status_line_is_escaped_and_empty_when_nothing_happened():
    assert status_html("") == ""
    assert "&lt;b&gt;" in status_html("<b>", "warn") and "parla-warn" in status_html("x", "warn")


def test_article_html_keeps_paragraphs():
    html = article_html("# A\n\nfirst\n\n\n\nsecond")
    assert html.startswith("<strong>A</strong>") and "first" in html and "second" in html


def test_speech_value_is_int16_at_the_voice_rate():
    from ui.chat_page import speech_value

    speech = SpeechOut(np.array([0.0, 0.5, -2.0], dtype=np.float32), 22_050, "piper", "joe")
    rate, samples = speech_value(TurnResult(Reply("x", "en"), result().trace, speech))
    assert rate == 22_050 and samples.dtype == np.int16 and samples[2] == -32767
