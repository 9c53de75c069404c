"""The responder trained from the real offline bundle on part of the demo data (minutes)."""

from __future__ import annotations

import dataclasses

import pytest

from agent.config import ResponderConfig
from agent.datasets import demo_kb_dir, demo_responder
from agent.messages import Passage
from agent.responder import load_responder
from agent.text import rouge_l
from eval.responder import detect_language
from finetune.responder import ResponderTraining, train_responder
from finetune.responder_data import read_kb

pytestmark = pytest.mark.slow
LANGUAGES = ("en", "zh")


@pytest.fixture(scope="module")
def demo_part(tmp_path_factory):
    """A responder trained on the English and Chinese demo data within a 150 s budget."""
    out = tmp_path_factory.mktemp("slow") / "responder"
    settings = ResponderTraining(budget_s=150)
    settings = dataclasses.replace(
        settings, rewriter=dataclasses.replace(settings.rewriter, pretrain_pairs=600)
    )
    train_responder(
        demo_responder("train", LANGUAGES),
        demo_responder("valid", LANGUAGES),
        read_kb(demo_kb_dir(), LANGUAGES),
        out,
        "bundle:e5-small",
        settings,
    )
    docs = {(d.language, d.article): d for d in read_kb(demo_kb_dir(), LANGUAGES)}
    return load_responder(ResponderConfig(model=str(out))), docs


def test_demo_questions_get_grounded_replies_in_their_language(demo_part):
    responder, docs = demo_part
    scores = []
    for e in demo_responder("test", LANGUAGES)[::4]:
        doc = docs[(e.lang, e.article)]
        passage = Passage(doc.doc_id, doc.title, doc.text, doc.language, 0.9)
        reply = responder.generate(e.question, e.lang, e.intent, [passage])
        assert reply.grounded and reply.path in ("generated", "extractive")
        assert detect_language(reply.text, LANGUAGES) == e.lang, reply.text
        scores.append(rouge_l(reply.text, e.answer))
    assert sum(scores) / len(scores) > 0.35


def test_a_language_outside_training_is_answered_from_its_passage(demo_part):
    responder, _ = demo_part
    doc = read_kb(demo_kb_dir(), ("de",))[0]
    reply = responder.generate(
        "Wie funktioniert das?", "de", None, [Passage(doc.doc_id, doc.title, doc.text, "de", 0.9)]
    )
    assert reply.path == "extractive"
    assert reply.cited_ids == (doc.doc_id,)
