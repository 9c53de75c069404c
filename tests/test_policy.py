from pathlib import Path

import pytest

from agent.errors import ParlaError
from agent.messages import Entity, Intent, IntentScore
from agent.policy import DEFAULT_POLICY as POLICY_PATH
from agent.policy import Evidence, decide, load_policy
from agent.session import Pending, Session

POLICY = load_policy()


def ev(label, conf=0.95, entities=(), kb_score=0.9, relevant=True, text="text"):
    return Evidence(
        text, Intent(label, conf, (IntentScore("x", 0.01),)), entities, kb_score, relevant
    )


def test_every_language_has_every_template():
    names = set(POLICY.templates["en"])
    for lang in ("zh", "es", "fr", "de", "pt"):
        assert set(POLICY.templates[lang]) == names, lang


def test_slot_is_asked_then_filled():
    s = Session("s")
    d = decide(POLICY, ev("track_order"), s)
    assert (d.action, d.slot) == ("ask_slot", "order_number")
    s.pending = Pending("track_order", "order_number", "where is my order")
    order = Entity("order_number", "VT-12345678", "VT-12345678")
    d = decide(POLICY, ev("out_of_scope", 0.3, (order,)), s)
    assert (d.action, d.intent, d.question) == ("answer", "track_order", "where is my order")


def test_knowledge_base_answers_what_no_intent_covers():
    d = decide(POLICY, ev("out_of_scope", 0.6, kb_score=0.95), Session("s"))
    assert d.action == "answer"
    assert decide(POLICY, ev("out_of_scope", 0.95, kb_score=0.80), Session("s")).action == "decline"


def test_an_unsure_out_of_scope_guess_asks_and_a_sure_one_declines_even_with_a_passage():
    unsure = decide(POLICY, ev("out_of_scope", 0.6, kb_score=0.80), Session("s"))
    assert (unsure.action, unsure.intent) == ("clarify", None)
    sure = decide(POLICY, ev("out_of_scope", 0.99, kb_score=0.95), Session("s"))
    assert sure.action == "decline"


def test_clarify_then_handoff():
    s = Session("s")
    assert decide(POLICY, ev("return_item", 0.2, kb_score=0.5), s).action == "clarify"
    s.failures = 1
    assert decide(POLICY, ev("return_item", 0.2, kb_score=0.5), s).action == "handoff"


def test_an_unclear_request_asks_even_when_sure_and_a_second_one_hands_over():
    s = Session("s")
    d = decide(POLICY, ev("unclear", 0.97, kb_score=0.95), s)
    assert (d.action, d.intent) == ("clarify", None)
    s.failures = 1
    assert decide(POLICY, ev("unclear", 0.97), s).action == "handoff"


def test_an_unsure_unclear_guess_is_answered_when_the_knowledge_base_is_sure():
    d = decide(POLICY, ev("unclear", 0.7, kb_score=0.95), Session("s"))
    assert (d.action, d.intent) == ("answer", None)
    assert decide(POLICY, ev("unclear", 0.7, kb_score=0.5), Session("s")).action == "clarify"


def test_a_policy_without_clarify_intents_treats_unclear_as_any_intent(tmp_path):
    text = Path(POLICY_PATH).read_text(encoding="utf-8")
    path = tmp_path / "p.toml"
    path.write_text(text.replace('clarify = ["unclear"]', ""), encoding="utf-8")
    assert decide(load_policy(path), ev("unclear", 0.97), Session("s")).action == "answer"


def test_negative_sentiment_after_failure_hands_over():
    s = Session("s")
    s.failures = 1
    assert decide(POLICY, ev("return_item", text="this is unacceptable"), s).action == "handoff"


def test_bad_policy_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[thresholds]\n")
    with pytest.raises(ParlaError, match="invalid"):
        load_policy(path)
