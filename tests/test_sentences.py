from __future__ import annotations

from agent.messages import Passage
from agent.sentences import MAX_SENTENCE_CHARS, split_passages, split_sentences, split_text

ARTICLE = """---
id: returns-policy
title: Return policy
lang: en
---

# Return policy

## 30 days to change your mind

You can return most products within 30 days. Returns are **free**.

## What can't be returned

- opened software;
- personalised products.

See [our guide](https://example.com) for details.
"""


def test_sentences_carry_their_heading_and_a_list_is_offered_whole_and_item_by_item():
    pairs = split_text(ARTICLE, "Return policy")
    assert pairs == [
        ("30 days to change your mind", "You can return most products within 30 days."),
        ("30 days to change your mind", "Returns are free."),
        ("What can't be returned", "opened software; personalised products."),
        ("What can't be returned", "opened software"),
        ("What can't be returned", "personalised products."),
        ("What can't be returned", "See our guide for details."),
    ]


def test_a_one_item_list_is_offered_once():
    pairs = split_text("## Tip\n\n- Keep the box.\n", "Returns")
    assert pairs == [("Tip", "Keep the box.")]


def test_a_passage_without_headings_uses_its_title():
    passages = [Passage("en/a.md", "Store hours", "Open 9-20. Closed on Sunday.", "en", 0.9)]
    sentences = split_passages(passages)
    assert [s.heading for s in sentences] == ["Store hours", "Store hours"]
    assert [s.doc_id for s in sentences] == ["en/a.md", "en/a.md"]


def test_a_retrieved_chunk_gets_back_the_heading_it_was_cut_from():
    chunk = Passage(
        "fr/delivery.md", "Delivery", "Price: 9.99 EUR.", "fr", 0.9, section="Options > Express"
    )
    assert [s.heading for s in split_passages([chunk])] == ["Express"]


def test_abbreviations_and_decimals_do_not_end_a_sentence():
    text = "Bitte wählen Sie z. B. Visa. Es kostet 4.99 EUR. Use e.g. PayPal. Fertig!"
    assert split_sentences(text) == [
        "Bitte wählen Sie z. B. Visa.",
        "Es kostet 4.99 EUR.",
        "Use e.g. PayPal.",
        "Fertig!",
    ]


def test_chinese_sentences_end_without_a_space():
    assert split_sentences("运费 4.99 欧元。满 49 欧元免运费！还有吗？") == [
        "运费 4.99 欧元。",
        "满 49 欧元免运费！",
        "还有吗？",
    ]


def test_a_run_on_paragraph_is_cut():
    sentence = split_sentences("word " * 500)[0]
    assert len(sentence) <= MAX_SENTENCE_CHARS + 1


def test_a_table_row_becomes_a_sentence_under_its_heading():
    text = (
        "## Costs\n\nIntro line.\n"
        "| Destination | Delivery time | Cost |\n|---|:---:|---|\n"
        "| EU countries | 4-7 business days | €9.99 |\n| Norway | | €19.99 |\n"
        "After the table."
    )
    assert split_text(text) == [
        ("Costs", "Intro line."),
        ("Costs", "EU countries: Delivery time 4-7 business days, Cost €9.99."),
        ("Costs", "Norway: Cost €19.99."),  # an empty cell is left out
        ("Costs", "After the table."),
    ]
