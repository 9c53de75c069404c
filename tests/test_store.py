from agent.messages import Intent, LanguageDecision, Trace
from agent.store import ConversationStore, mask


def test_mask_personal_data():
    text = (
        "mail me at Ana.Lopez+x@example.com or +34 612 345 678, "
        "card 4111 1111 1111 1111, order VT-12345678"
    )
    masked = mask(text)
    assert "example.com" not in masked and "612" not in masked and "4111" not in masked
    assert "VT-12345678" in masked
    assert "VT-12345678" not in mask(text, mask_orders=True)


def test_log_export_and_ticket(tmp_path):
    store = ConversationStore(tmp_path / "db" / "log.sqlite", mask_orders=True)
    trace = Trace(LanguageDecision("en", 1.0, "text"), Intent("track_order", 0.97), "answer")
    store.log_turn("s1", "where is VT-12345678? mail a@b.com", "It shipped.", trace)
    low = Trace(LanguageDecision("en", 1.0, "text"), Intent("track_order", 0.3), "clarify")
    store.log_turn("s1", "hmm", "Could you say more?", low)
    assert store.export_training() == [
        {"text": "where is <order>? mail <email>", "label": "track_order", "lang": "en"}
    ]
    ticket = store.open_ticket(
        "s1", "en", "asked for a person", [{"user": "call me on +44 20 7946 0958"}]
    )
    assert store.ticket(ticket)["transcript"] == [{"user": "call me on <phone>"}]
    assert store.ticket("TK-NOPE") is None
