"""The app in a real browser: Debian's chromium driven by Playwright, a WAV as the microphone.

Most tests run the app on fake stages (fast, deterministic); the last one loads the real models.
Screenshots are saved under ``artifacts/screenshots/`` (look at them: they are what a first-time
user sees). Chromium comes from apt (``PARLA_BROWSER_TESTS=1 bash scripts/install.sh``); where it
is missing these tests skip, unless ``PARLA_BROWSER_TESTS=1`` says it must be there.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.ui_fakes import SLOW_WORD, Server, held, make_context, write_wav
from ui.serving import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
REPLY_ES = "Puedes devolver tus productos en un plazo de 30 días"
WAIT_MS = 20_000  # a fake turn takes milliseconds; this only bounds a broken page


def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("PARLA_BROWSER_TESTS") == "1":
        pytest.fail(
            f"{CHROMIUM} is missing although PARLA_BROWSER_TESTS=1 (apt-get install chromium)"
        )
    pytest.skip(f"{CHROMIUM} is absent: run PARLA_BROWSER_TESTS=1 bash scripts/install.sh")


@pytest.fixture(scope="module")
def playwright():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


def launch(playwright, microphone: Path | None = None, deny: bool = False):
    """Chromium with a WAV file as its microphone (or with microphone access denied)."""
    flags = list(FLAGS)
    if microphone is not None:
        flags += [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}",
        ]
    if deny:
        flags += ["--use-fake-device-for-media-stream", "--deny-permission-prompts"]
    return playwright.chromium.launch(executable_path=_chromium(), args=flags, headless=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-app")
    ctx = make_context(folder)
    with Server(ctx) as url:
        yield url, ctx, folder


@pytest.fixture(scope="module")
def browser(playwright, app):
    microphone = write_wav(app[2] / "question.wav", 3.0, rate=48_000)
    b = launch(playwright, microphone)
    yield b
    b.close()


@pytest.fixture
def page(browser, app):
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    p = context.new_page()
    p.goto(app[0])
    p.wait_for_selector("#parla-input textarea:not([disabled])")  # the page knows its tab
    yield p
    context.close()


def shoot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def ask(page, text: str) -> None:
    box = page.locator("#parla-input textarea")
    box.fill(text)
    box.press("Enter")


def bubbles(page) -> list[str]:
    return page.locator("#parla-chat .message").all_inner_texts()


def wait_for_text(page, selector: str, text: str, timeout: int = WAIT_MS) -> None:
    page.locator(selector, has_text=text).first.wait_for(timeout=timeout)


def record(page, seconds: float) -> None:
    page.locator("#parla-mic button.record-button").click()
    page.wait_for_timeout(int(seconds * 1000))
    page.locator("#parla-mic button.stop-button").click()


def reply_audio_state(page) -> dict:
    return page.evaluate(
        """() => { const a = document.querySelector('#parla-reply-audio audio');
        return a ? {src: a.src, ready: a.readyState, duration: a.duration,
                    played: a.played.length > 0 || !a.paused} : null; }"""
    )


def test_spanish_question_gets_a_spanish_reply_with_a_source(page):
    wait_for_text(page, "#parla-badge", "Language")
    shoot(page, "01-first-visit")
    ask(page, "¿Puedo devolver un producto?")
    wait_for_text(page, "#parla-chat", REPLY_ES)
    wait_for_text(page, "#parla-chat .parla-source-title", "Política de devoluciones")
    assert page.locator("#parla-input textarea").input_value() == ""
    assert "Español" in page.locator("#parla-badge").inner_text()
    page.locator("#parla-chat summary", has_text="Open the article").first.click()
    wait_for_text(page, "#parla-chat .parla-article-text", "La devolución es gratuita")
    page.locator("#parla-why-panel").get_by_text("Why this answer").click()
    wait_for_text(page, "#parla-why", "return_item")
    shoot(page, "02-spanish-reply-with-source-and-why")


def test_spoken_question_shows_transcript_reply_and_playable_audio(page):
    record(page, 2.5)
    wait_for_text(page, "#parla-chat", "🎙️ ¿Puedo devolver un producto?")
    wait_for_text(page, "#parla-chat", REPLY_ES)
    page.wait_for_function(
        "() => { const a = document.querySelector('#parla-reply-audio audio');"
        " return a && a.src && a.readyState >= 1 && a.duration > 0; }",
        timeout=WAIT_MS,
    )
    state = reply_audio_state(page)
    assert state["src"].endswith(".wav") and state["played"]  # autoplayed
    assert "heard in your voice" in page.locator("#parla-badge").inner_text()
    shoot(page, "03-voice-turn")


def test_a_click_on_the_microphone_is_said_to_be_too_short(page):
    record(page, 0.15)
    wait_for_text(page, "#parla-status", "too short")
    assert bubbles(page) == []
    ask(page, "hola")  # and the page keeps working
    wait_for_text(page, "#parla-chat", "Soy el asistente de Voltia")
    shoot(page, "04-too-short-recording")


def test_a_ten_minute_recording_is_refused(page, app):
    long = write_wav(app[2] / "ten-minutes.wav", 600.0, rate=8_000)
    page.locator("#parla-mic button[aria-label='Upload file']").click()
    page.locator("#parla-mic input[type=file]").set_input_files(str(long))
    wait_for_text(page, "#parla-status", "longer than the 60-second limit", timeout=60_000)
    shoot(page, "05-ten-minute-recording")


def test_a_forgotten_recording_stops_itself_at_the_limit(browser, tmp_path):
    from agent.config import UIConfig

    with Server(make_context(tmp_path, ui=UIConfig(max_audio_s=3.0))) as url:
        p = browser.new_page(viewport={"width": 1360, "height": 1000})
        p.goto(url)
        p.locator("#parla-mic button.record-button").click()
        wait_for_text(
            p, "#parla-mic-hint", "Recording stopped at the 3-second limit", timeout=10_000
        )
        wait_for_text(p, "#parla-chat", REPLY_ES)
        shoot(p, "06-recording-stopped-at-the-limit")
        p.close()


def test_denied_microphone_is_explained_and_typing_still_works(playwright, app):
    b = launch(playwright, deny=True)
    try:
        p = b.new_page(viewport={"width": 1360, "height": 1000})
        p.goto(app[0])
        p.wait_for_selector("#parla-mic button.record-button")
        p.locator("#parla-mic button.record-button").click()
        wait_for_text(p, "#parla-mic-hint", "microphone is blocked")
        ask(p, "¿Puedo devolver un producto?")
        wait_for_text(p, "#parla-chat", REPLY_ES)
        shoot(p, "07-microphone-denied")
    finally:
        b.close()


def test_upload_reindex_then_answer_from_the_new_document(page, app):
    folder = app[2]
    bad = folder / "manual.pdf"
    bad.write_text("this is not a PDF")
    good = folder / "warranty.md"
    good.write_text("# Warranty\n\nEvery Voltia laptop has a warranty of three years.\n")
    page.get_by_role("tab", name="Knowledge base").click()
    upload = page.locator("#parla-kb-files input[type=file]")
    upload.set_input_files(str(bad))
    page.locator("#parla-kb-add").click()
    wait_for_text(page, "#parla-kb-upload-status", "Nothing was added")
    assert not (app[1].knowledge.kb_dir / "uploads" / "manual.pdf").exists()
    shoot(page, "08-bad-pdf-refused")
    upload.set_input_files(str(good))
    page.locator("#parla-kb-add").click()
    wait_for_text(page, "#parla-kb-progress", "Re-indexed")
    wait_for_text(page, "#parla-kb-table", "uploads/warranty.md")
    shoot(page, "09-uploaded-and-reindexed")
    page.get_by_role("tab", name="Chat").click()
    ask(page, "How long is the laptop warranty?")
    wait_for_text(page, "#parla-chat", "warranty of three years")
    wait_for_text(page, "#parla-chat .parla-source-title", "Warranty")
    shoot(page, "10-answer-from-uploaded-document")


def test_reload_in_the_middle_of_a_turn_shows_the_answer(page, app):
    with held(app[1]) as release:
        ask(page, f"{SLOW_WORD}: can I return an item?")
        wait_for_text(page, "#parla-status", "Parla is answering")
        page.reload()
        wait_for_text(page, "#parla-status", "reloaded while Parla was answering")
        shoot(page, "11-reloaded-mid-turn")
        release()
        wait_for_text(page, "#parla-chat", "You can return items within 30 days")
        wait_for_text(page, "#parla-status", "sent before the reload")


def test_two_tabs_talking_at_once_keep_their_own_conversations(browser, app):
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    try:
        first, second = context.new_page(), context.new_page()
        for p in (first, second):
            p.goto(app[0])
            p.wait_for_selector("#parla-input textarea:not([disabled])")  # the page knows its tab
        with held(app[1]) as release:
            ask(first, f"{SLOW_WORD}: can I return an item?")
            ask(second, f"{SLOW_WORD}: when do the stores open?")
            for p in (first, second):  # both turns are being answered at the same time
                wait_for_text(p, "#parla-status", "Parla is answering")
            release()
            wait_for_text(first, "#parla-chat", "You can return items")
            wait_for_text(second, "#parla-chat", "Our stores open")
        assert not any("stores" in b for b in bubbles(first))
        assert not any("return" in b for b in bubbles(second))
        shoot(second, "12-second-tab")
    finally:
        context.close()


def test_the_message_box_opens_once_the_page_knows_its_conversation(browser, app):
    context = browser.new_context()
    try:
        p = context.new_page()
        p.goto(app[0], wait_until="commit")
        p.wait_for_selector("#parla-input textarea", state="attached", timeout=WAIT_MS)
        served = "window.gradio_config.components.find(c => c.props.elem_id === 'parla-input')"
        assert p.evaluate(f"() => {served}.props.interactive") is False  # served closed
        p.wait_for_selector("#parla-input textarea:not([disabled])", timeout=WAIT_MS)
        assert p.locator("#parla-tab-id textarea").input_value()  # the conversation is known
        assert p.evaluate("() => document.activeElement.closest('#parla-input') !== null")
    finally:
        context.close()


def test_new_conversation_starts_afresh(page):
    ask(page, "I want to talk to a human person")
    wait_for_text(page, "#parla-handoff", "Handed to a human")
    shoot(page, "13-handed-to-a-human")
    page.locator("#parla-new").click()
    wait_for_text(page, "#parla-status", "New conversation")
    assert bubbles(page) == [] and page.locator("#parla-handoff").inner_text().strip() == ""


def test_evaluation_tab_without_then_with_a_report(page, app):
    page.get_by_role("tab", name="Evaluation").click()
    wait_for_text(page, "#parla-report-text", "No evaluation report yet")
    shoot(page, "14-evaluation-empty")
    folder = app[1].reports_root / "2026-03-01"
    folder.mkdir(parents=True)
    (folder / "summary.md").write_text(
        "# Evaluation\n\n| stage | metric | value |\n|---|---|---|\n| intent | accuracy | 0.93 |\n"
    )
    _plot(folder / "latency_per_stage.png")
    page.locator("#parla-report-refresh").click()
    wait_for_text(page, "#parla-report-text", "accuracy")
    page.wait_for_function(
        "() => { const img = document.querySelector('#parla-report-text .parla-plots img');"
        " return img && img.complete && img.naturalWidth > 0; }",
        timeout=WAIT_MS,
    )
    shoot(page, "15-evaluation-report")


def _plot(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.barh(["asr", "intent", "retrieval", "responder", "tts"], [420, 15, 25, 310, 380])
    ax.set_xlabel("ms (p50)")
    ax.set_title("Latency per stage")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --- the real models ------------------------------------------------------------------------


def launch_with_speech(playwright, wav: Path):
    """Chromium whose microphone plays ``wav`` once (no loop), then silence."""
    return launch(playwright, Path(f"{wav}%noloop"))


@pytest.fixture(scope="module")
def real_voice(tmp_path_factory):
    """The bundle's Whisper and voices, loaded once (the text stages stay fake)."""
    from agent.config import LANGUAGES, ASRConfig, TTSConfig
    from agent.models import bundle_ready

    if not (bundle_ready("whisper-base") and bundle_ready("piper-joe-en")):
        pytest.skip("the offline bundle is missing: run `parla setup` first")
    from speech.asr import load_transcriber
    from speech.tts import load_synthesizer

    return load_transcriber(ASRConfig(), LANGUAGES), load_synthesizer(TTSConfig())


def test_real_whisper_and_voice_in_the_browser(playwright, real_voice, tmp_path):
    transcriber, synthesizer = real_voice
    question = _spoken(synthesizer, tmp_path / "question.wav", "Can I return an item?")
    ctx = make_context(tmp_path, transcriber=transcriber, synthesizer=synthesizer)
    with Server(ctx) as url:
        b = launch_with_speech(playwright, question)
        try:
            p = b.new_page(viewport={"width": 1360, "height": 1000})
            p.goto(url)
            p.wait_for_selector("#parla-mic button.record-button")
            record(p, 3.0)
            wait_for_text(p, "#parla-chat", "You can return items", timeout=60_000)
            wait_for_text(p, "#parla-status", "Answered in", timeout=60_000)
            assert "return" in bubbles(p)[0].lower()  # what Whisper heard
            assert "English" in p.locator("#parla-badge").inner_text()
            p.wait_for_function(
                "() => { const a = document.querySelector('#parla-reply-audio audio');"
                " return a && a.src && a.duration > 0.5; }",
                timeout=60_000,
            )
            shoot(p, "real-01-whisper-and-piper")
        finally:
            b.close()


@pytest.fixture(scope="module")
def real_app(tmp_path_factory):
    import argparse

    from agent.config import load_config
    from agent.models import parla_home
    from ui.commands import build_demo_app, demo_ready, find_places
    from ui.serving import serve

    if not demo_ready(parla_home()):
        pytest.skip("the demo models are missing: run `parla setup` first")
    folder = tmp_path_factory.mktemp("real-app")
    config = load_config()
    places = find_places(argparse.Namespace(index=None, kb=None), config, folder)
    ui = replace(config.ui, port=free_port())
    app, allowed, ctx = build_demo_app(config, ui, places)
    url = serve(app, ui, None, allowed, block=False)
    yield url, ctx, folder
    app.close()


def test_real_agent_answers_typed_spanish_and_spoken_english(playwright, real_app):
    url, ctx, folder = real_app
    speech = _spoken(ctx.agent.stages.synthesizer, folder / "q.wav", "How can I return an item?")
    b = launch_with_speech(playwright, speech)
    try:
        p = b.new_page(viewport={"width": 1360, "height": 1000})
        p.goto(url)
        p.wait_for_selector("#parla-input textarea:not([disabled])")  # the page knows its tab
        ask(p, "¿Cuánto tiempo tengo para devolver un producto?")
        wait_for_text(p, "#parla-chat .parla-sources-head", "Sources", timeout=120_000)
        assert "Español" in p.locator("#parla-badge").inner_text()
        shoot(p, "real-02-agent-spanish")
        p.locator("#parla-new").click()
        wait_for_text(p, "#parla-status", "New conversation")
        record(p, 3.0)
        wait_for_text(p, "#parla-status", "Answered in", timeout=120_000)
        assert "return" in bubbles(p)[0].lower()
        p.wait_for_function(
            "() => { const a = document.querySelector('#parla-reply-audio audio');"
            " return a && a.src && a.duration > 0.5; }",
            timeout=120_000,
        )
        shoot(p, "real-03-agent-voice")
    finally:
        b.close()


def _spoken(synthesizer, path: Path, text: str) -> Path:
    """The question spoken by the English voice, to play into the fake microphone."""
    from speech.audio import write_wav as write_speech

    return write_speech(synthesizer.synthesize(text, "en"), path)
