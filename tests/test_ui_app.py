"""The app on fake stages, served on a random loopback port and driven with gradio_client."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client, handle_file

from agent.config import UIConfig
from agent.messages import Turn
from tests.ui_fakes import SLOW_WORD, Server, make_context, write_wav
from ui.chat_page import ChatPage

REPLY_ES = "Puedes devolver tus productos en un plazo de 30 días"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ctx = make_context(tmp_path_factory.mktemp("app"))
    with Server(ctx) as url:
        yield url, ctx


@pytest.fixture
def client(served):
    return Client(served[0], verbose=False)


def texts(chat):
    """Each message's text, as gradio_client returns the chatbot."""
    return [" ".join(c.get("text", "") for c in m["content"]) for m in chat]


def send(client, text, tab="", language="auto", speak=True):
    return client.predict(text, language, speak, tab, api_name="/send_text")


def test_spanish_question_gets_a_spanish_reply_with_its_source(client):
    tab, chat, status, why, badge, banner, audio, box = send(client, "¿Puedo devolver un producto?")
    said = texts(chat)
    assert said[0] == "¿Puedo devolver un producto?" and said[1].startswith(REPLY_ES)
    assert "📚 Sources (1)" in said[2] and "Política de devoluciones" in said[2]
    assert "es/devoluciones.md" in said[2] and "0.73" in said[2]
    assert "Español" in badge and "Answered in" in status and banner == ""
    assert "`return_item`" in why and audio.endswith(".wav")


def test_voice_turn_shows_the_transcript_the_reply_and_its_audio(client, tmp_path):
    recording = handle_file(str(write_wav(tmp_path / "q.wav", 2.0)))
    tab, chat, status, why, badge, _, audio, mic = client.predict(
        recording, "auto", True, "", api_name="/send_voice"
    )
    said = texts(chat)
    assert said[0] == "🎙️ ¿Puedo devolver un producto?" and said[1].startswith(REPLY_ES)
    assert "heard in your voice" in badge and "recogniser heard `es`" in why
    assert audio.endswith(".wav") and mic is None  # the recorder is cleared for the next turn


def test_a_click_is_refused_and_the_conversation_goes_on(client, tmp_path):
    tab, chat, *_ = send(client, "hola")
    click = handle_file(str(write_wav(tmp_path / "click.wav", 0.2)))
    out = client.predict(click, "auto", True, tab, api_name="/send_voice")
    assert "too short" in out[2] and "parla-warn" in out[2]
    assert texts(out[1]) == texts(chat)  # nothing was added to the conversation
    assert texts(send(client, "gracias", tab)[1])[-1].startswith("¡De nada!")


def test_a_ten_minute_recording_is_refused(client, tmp_path):
    long = handle_file(str(write_wav(tmp_path / "long.wav", 600.0, rate=8_000)))
    out = client.predict(long, "auto", True, "", api_name="/send_voice")
    assert "10 min 00 s, longer than the 60-second limit" in out[2]
    assert out[1] == []


def test_silence_is_said_to_be_silence(client, tmp_path):
    silent = handle_file(str(write_wav(tmp_path / "quiet.wav", 2.0, silent=True)))
    out = client.predict(silent, "auto", True, "", api_name="/send_voice")
    assert "No speech was heard" in out[2]
    assert texts(out[1])[0] == "🎙️ (no speech heard)"


def test_not_audio_is_refused(client, tmp_path):
    fake = tmp_path / "fake.wav"
    fake.write_text("not sound")
    out = client.predict(handle_file(str(fake)), "auto", True, "", api_name="/send_voice")
    assert "not a readable audio file" in out[2]


def test_an_empty_message_asks_for_a_question(client):
    out = send(client, "   ")
    assert "Type a question first" in out[2] and out[1] == []


def test_manual_language_override_wins(client):
    out = send(client, "hello", language="de")
    assert "Deutsch · chosen by you" in out[4]
    assert "decided by *user*" in out[3]


def test_handoff_shows_the_ticket_until_a_new_conversation(client):
    tab, chat, *_, banner, _, _ = send(client, "I want to talk to a human person")
    assert "Handed to a human" in banner and "TK-" in banner
    assert any("ticket" in t for t in texts(chat))
    assert "Handed to a human" in send(client, "hello again", tab)[5]
    new_tab, new_chat, status, *_ = client.predict("auto", api_name="/new_conversation")
    assert new_tab != tab and new_chat == [] and "New conversation" in status


def test_each_tab_keeps_its_own_conversation(client):
    tab_a = send(client, "hola")[0]
    tab_b = send(client, "hello")[0]
    assert tab_a != tab_b
    again = send(client, "¿Puedo devolver un producto?", tab_a)
    assert texts(again[1])[0] == "hola" and len(again[1]) == 5  # + the reply and its sources


def test_two_tabs_talking_at_once_each_get_their_own_answer(served):
    questions = {
        "a": f"{SLOW_WORD}: can I return an item?",
        "b": f"{SLOW_WORD}: when do the stores open?",
    }

    def ask(key):
        return send(Client(served[0], verbose=False), questions[key])

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(ask, ["a", "b"])
    assert a[0] != b[0]
    assert texts(a[1])[1].startswith("You can return items") and "stores" not in texts(a[1])[1]
    assert texts(b[1])[1].startswith("Our stores open") and "return" not in texts(b[1])[1]


def test_ask_endpoint_returns_the_cli_json(client):
    out = client.predict("¿Puedo devolver un producto?", "auto", "", api_name="/ask")
    assert {"reply", "language", "intent", "entities", "sources", "action", "latency_ms"} <= set(
        out
    )
    assert out["language"] == "es" and out["sources"][0]["id"] == "es/devoluciones.md"
    follow = client.predict("gracias", "auto", out["session"], api_name="/ask")
    assert follow["session"] == out["session"]
    with pytest.raises(Exception, match="the message is empty"):  # noqa: B017 - AppError
        client.predict("  ", "auto", "", api_name="/ask")


def test_upload_reindex_and_answer_from_the_new_document(client, tmp_path):
    bad = tmp_path / "manual.pdf"
    bad.write_text("not a pdf")
    status, *_ = client.predict([handle_file(str(bad))], api_name="/kb_add")
    assert "Nothing was added" in status and "manual.pdf" in status
    doc = tmp_path / "warranty.md"
    doc.write_text("# Warranty\n\nEvery laptop has a warranty of three years.\n")
    status, *_ = client.predict([handle_file(str(doc))], api_name="/kb_add")
    assert "Added uploads/warranty.md" in status
    progress = _wait_for_reindex(client)
    assert "Re-indexed" in progress
    rows = client.predict(api_name="/kb_documents")
    assert ["uploads/warranty.md", "Warranty", "en", "indexed"] in rows
    answer = send(client, "How long is the laptop warranty?")
    assert "three years" in texts(answer[1])[1]


def test_reports_tab_says_when_there_is_none_then_shows_the_latest(client, served):
    _, text = client.predict(api_name="/reports")
    assert "No evaluation report yet" in text
    folder = served[1].reports_root / "2026-03-01"
    folder.mkdir(parents=True)
    (folder / "intent.md").write_text("# Intent\n\naccuracy **0.93**")
    from tests.test_ui_reports import PNG

    (folder / "confusion_matrix.png").write_bytes(PNG)
    choice, text = client.predict(api_name="/reports")
    assert choice["value"] == str(folder)
    assert "accuracy **0.93**" in text and "<figcaption>Confusion matrix</figcaption>" in text


def test_login_and_upload_limit(tmp_path):
    ctx = make_context(tmp_path, ui=UIConfig(max_upload_mb=1))
    with Server(ctx, auth=[("ops", "secret")]) as url:
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do: no login, no app
            Client(url, verbose=False)
        client = Client(url, auth=("ops", "secret"), verbose=False)
        assert "Español" in send(client, "hola")[4]
        big = write_wav(tmp_path / "big.wav", 40.0)  # 1.3 MB
        with pytest.raises(Exception, match="(?i)size|large"):  # noqa: B017
            client.predict(handle_file(str(big)), "auto", True, "", api_name="/send_voice")


# --- the chat page without a server -------------------------------------------------------


def collect(agen):
    async def run():
        return [out async for out in agen]

    return asyncio.run(run())


def test_a_reload_mid_turn_shows_the_answer_when_it_arrives(tmp_path):
    page = ChatPage(make_context(tmp_path))
    tab = page.tabs.new()

    async def start_then_leave():
        turn = Turn(text=f"{SLOW_WORD}: can I return an item?")
        async for _ in page.runner.run(tab, turn, turn.text):
            return  # the page reloads: nobody listens to this turn any more

    asyncio.run(start_then_leave())
    assert tab.running is not None
    views = collect(page.restore(tab.id, "auto"))
    assert "reloaded while Parla was answering" in views[0][2]
    assert "answer to the message sent before the reload" in views[-1][2]
    assert views[-1][1][1]["content"].startswith("You can return items")


def test_a_second_message_while_one_is_answered_is_asked_to_wait(tmp_path):
    page = ChatPage(make_context(tmp_path))
    tab = page.tabs.new()
    started = threading.Event()

    async def both():
        async def first():
            async for _ in page.send_text(f"{SLOW_WORD} return", "auto", False, tab.id):
                started.set()

        task = asyncio.create_task(first())
        while not started.is_set():
            await asyncio.sleep(0.01)
        second = [out async for out in page.send_text("hello", "auto", False, tab.id)]
        await task
        return second

    second = asyncio.run(both())
    assert "still answering your previous message" in second[-1][2]


def test_restore_of_an_unknown_tab_starts_a_new_conversation(tmp_path):
    page = ChatPage(make_context(tmp_path))
    views = collect(page.restore("guessed-id", "auto"))
    assert views[0][0] != "guessed-id" and views[0][1] == []


def test_a_failing_turn_says_so_and_the_tab_keeps_working(tmp_path):
    page = ChatPage(make_context(tmp_path))

    def broken(turn, session):
        raise RuntimeError("boom")

    page.runner.agent.respond = broken
    views = collect(page.send_text("hello", "auto", False, ""))
    assert "could not be answered" in views[-1][2]
    assert "something went wrong" in views[-1][1][-1]["content"]
    assert page.tabs.get(views[-1][0]).running is None


def _wait_for_reindex(client, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        progress = client.predict(api_name="/kb_status")[0]
        if "Re-indexed" in progress or "failed" in progress:
            return progress
        time.sleep(0.2)
    raise AssertionError("re-index did not finish")
