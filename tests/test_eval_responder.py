"""eval.responder's answer-sentence accuracy: which sentence answers each test question."""

from __future__ import annotations

from agent.datasets import ResponderExample
from eval.responder import _metrics, answer_sentences

PASSAGE = "Standard delivery takes 3-5 business days. It costs 4.99 EUR. Express is 9.99 EUR."


def _example(question: str, answer: str, passages=(PASSAGE,), article=None) -> ResponderExample:
    return ResponderExample(question, answer, "en", "info", article, tuple(passages))


def test_the_answer_sentence_is_the_passage_sentence_closest_to_the_reference():
    gold = answer_sentences([_example("How much?", "Standard delivery costs 4.99 EUR.")], False)
    assert gold == {"How much?": "It costs 4.99 EUR."}


def test_without_passages_or_the_demo_help_centre_no_answer_sentence_is_known():
    assert answer_sentences([_example("How much?", "4.99 EUR.", passages=())], False) == {}


def test_the_demo_help_centre_gives_a_demo_questions_answer_sentence():
    question = "How long does a refund take?"
    example = _example(question, "Within 5 business days.", passages=(), article="refunds-timing")
    gold = answer_sentences([example], True)
    assert "5 business days" in gold[question]


def test_accuracy_counts_only_questions_with_a_known_answer_sentence():
    base = dict(path="extractive", fallback=False, guard_rejected=False, rouge_l=0.5,
                grounded=True, language_match=True, extractive_rouge_l=0.5, latency_ms=5.0,
                extractive_language_match=True, article_retrieved=True)  # fmt: skip
    rows = [base | {"extractive_answer_sentence": v} for v in (True, False, None, True)]
    assert _metrics(rows)["extractive_baseline"]["answer_sentence_accuracy"] == round(2 / 3, 4)
    none = [base | {"extractive_answer_sentence": None}]
    assert _metrics(none)["extractive_baseline"]["answer_sentence_accuracy"] is None
