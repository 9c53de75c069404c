"""Chunking: sections at headings, whole sentences, token budget, overlap, Chinese."""

from retrieval.chunking import chunk_document, split_sections, split_sentences
from retrieval.documents import Document
from tests.retrieval_helpers import WordEmbedder

count = WordEmbedder().count_tokens


def doc(text, title="Returns", language="en"):
    return Document("en/returns.md", title, language, text)


def test_sentences_latin_and_chinese():
    assert split_sentences("Returns are free. Pay 4.99 EUR! Really?") == [
        "Returns are free.",
        "Pay 4.99 EUR!",
        "Really?",
    ]
    assert split_sentences("退货免费。请保留包装！好吗？") == [
        "退货免费。",
        "请保留包装！",
        "好吗？",
    ]


def test_list_items_and_paragraphs_end_sentences_and_wrapped_lines_join():
    text = "Not returnable:\n- opened software\n- engraved items\n\nA wrapped\nline here."
    assert split_sentences(text) == [
        "Not returnable:",
        "- opened software",
        "- engraved items",
        "A wrapped line here.",
    ]


def test_sections_carry_their_heading_path_without_the_title():
    text = "# Returns\n\nIntro.\n\n## Costs\n\nFree.\n\n### Abroad\n\nTen euros."
    text += "\n\n## Time\n\n30 days."
    sections = split_sections(text, title="Returns")
    assert [(s.heading, s.sentences) for s in sections] == [
        ("", ("Intro.",)),
        ("Costs", ("Free.",)),
        ("Costs > Abroad", ("Ten euros.",)),
        ("Time", ("30 days.",)),
    ]


def test_chunks_respect_the_budget_and_overlap_one_sentence():
    sentences = [f"Sentence number {i} has five words." for i in range(10)]  # 6 tokens each
    chunks = chunk_document(doc(" ".join(sentences)), count, max_tokens=20, overlap=1)
    assert all(sum(count([c.text])) <= 20 for c in chunks)
    assert len(chunks) > 3
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert first.text.split(". ")[-1].rstrip(".") in second.text  # last sentence repeated
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_a_sentence_longer_than_the_budget_is_cut():
    long = " ".join(f"word{i}" for i in range(95)) + "."
    chunks = chunk_document(doc(long), count, max_tokens=20, overlap=0)
    assert len(chunks) == 5 and all(count([c.text])[0] <= 20 for c in chunks)


def test_chinese_without_spaces_is_cut_on_characters():
    text = "退" * 50 + "。"
    chunks = chunk_document(doc(text, language="zh"), lambda ts: [len(t) for t in ts], 20, 0)
    assert "".join(c.text for c in chunks) == text and all(len(c.text) <= 20 for c in chunks)


def test_small_sections_merge_into_the_next():
    text = "## A\n\nOne.\n\n## B\n\nTwo words here and more words to pass the minimum size."
    chunks = chunk_document(doc(text), count, max_tokens=50, overlap=0, min_tokens=5)
    assert len(chunks) == 1
    assert chunks[0].section == "A" and chunks[0].text.startswith("One.")
    assert "B" in chunks[0].text


def test_embedding_text_names_title_and_section():
    chunks = chunk_document(doc("## Costs\n\nReturns are free."), count, 50)
    assert chunks[0].embedding_text() == "Returns\nCosts\nReturns are free."
    assert chunks[0].text == "Returns are free."


def test_a_table_is_chunked_as_row_sentences_without_pipes():
    text = "| Plan | Price |\n|---|---|\n| Basic | 5 EUR |\n| Plus | 9 EUR |\n"
    assert split_sentences(text) == ["Basic: Price 5 EUR.", "Plus: Price 9 EUR."]


def test_a_numbered_item_keeps_its_number_and_its_own_line():
    text = "Steps:\n\n1. Open My orders. Then pick it.\n2. Print the label.\n"
    assert split_sentences(text) == [
        "Steps:",
        "1. Open My orders.",
        "Then pick it.",
        "2. Print the label.",
    ]
