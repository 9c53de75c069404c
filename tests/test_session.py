import time

from agent.session import SessionStore


def test_sessions_are_separate_and_reused():
    store = SessionStore()
    a, b = store.get("a"), store.get("b")
    a.entities["email"] = "x@y.z"
    assert b.entities == {} and store.get("a") is a


def test_expiry_and_limit(monkeypatch):
    store = SessionStore(max_sessions=2, ttl_s=10)
    store.get("a"), store.get("b"), store.get("c")
    assert len(store) == 2
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 60)
    fresh = store.get("b")
    assert fresh.history == type(fresh.history)(maxlen=8) and len(store) == 1


def test_history_is_capped():
    store = SessionStore(history=3)
    s = store.get()
    for i in range(5):
        s.history.append(i)
    assert list(s.history) == [2, 3, 4]


def test_session_round_trips_through_plain_data():
    from agent.session import Pending, session_from_dict, session_to_dict

    store = SessionStore()
    s = store.get("z")
    s.language, s.failures = "de", 1
    s.entities["order_number"] = "VT-12345678"
    s.pending = Pending("cancel_order", "order_number", "Bestellung stornieren")
    again = session_from_dict(session_to_dict(s))
    assert session_to_dict(again) == session_to_dict(s)
