"""finetune.responder_memory: each labelled question's answer sentences in every language."""

from __future__ import annotations

import torch

from agent.sentences import Sentence
from finetune.responder_data import KBDocument, SelectionExample, document_sentences
from finetune.responder_memory import memory_answers

EN = "Delivery takes 3 days. Express costs 9 EUR."
ES = "El exprés cuesta 9 EUR. La entrega tarda 3 días."
KB = [
    KBDocument("en/delivery.md", "Delivery", "en", EN, "delivery"),
    KBDocument("es/delivery.md", "Entrega", "es", ES, "delivery"),
    KBDocument("es/returns.md", "Devoluciones", "es", "Devolver cuesta 9 EUR.", "returns"),
]


class DigitVectors:
    """A stand-in selector: a sentence's vector says which of the digits 3 and 9 it holds."""

    def vectors(self, texts):
        return torch.tensor([[float("3" in t), float("9" in t)] for t in texts])


def _example(doc: KBDocument, gold: int) -> SelectionExample:
    sentences = document_sentences(doc)
    return SelectionExample("q", sentences[gold].text, doc.language, None, sentences, (gold,))


def test_an_answer_brings_its_counterpart_in_the_same_article_of_each_other_language():
    answers = memory_answers(DigitVectors(), [_example(KB[0], 1)], KB)
    assert answers == [["Express costs 9 EUR.", "El exprés cuesta 9 EUR."]]  # not "Devolver..."


def test_counterparts_are_found_by_meaning_not_by_position():
    answers = memory_answers(DigitVectors(), [_example(KB[1], 1)], KB)
    assert answers == [["La entrega tarda 3 días.", "Delivery takes 3 days."]]


def test_an_answer_from_an_examples_own_passages_stays_alone():
    own = (Sentence("Pickup is free.", "", "passage-0", 0, 0),)
    example = SelectionExample("q", "Pickup is free.", "en", None, own, (0,))
    assert memory_answers(DigitVectors(), [example], KB) == [["Pickup is free."]]
