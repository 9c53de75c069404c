"""The responder on a tiny trained model: paths, bad inputs, the guard, loading."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from agent.answer_selection import AnswerMemory, AnswerSelector, MemorySettings
from agent.config import ResponderConfig
from agent.errors import ParlaError
from agent.messages import Passage
from agent.responder import NO_ANSWER, OTHER_LANGUAGE, Responder, load_responder
from agent.rewriter import Rewrite
from agent.sentences import split_passages
from finetune.responder import train_responder
from finetune.responder_data import read_kb
from tests.tiny_responder import (
    DELIVERY,
    build_tiny_encoder,
    build_tiny_seq2seq,
    examples,
    tiny_training,
    write_kb,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and much faster on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict, list[Passage]]:
    root = tmp_path_factory.mktemp("responder")
    kb = write_kb(root / "kb")
    encoder = build_tiny_encoder(root / "encoder", kb)
    docs = read_kb(kb)
    result = train_responder(
        examples(), examples(), docs, root / "out", str(encoder), tiny_training()
    )
    passages = [Passage(d.doc_id, d.title, d.text, d.language, 0.9) for d in docs]
    return root / "out", result, passages


@pytest.fixture(scope="module")
def responder(trained) -> Responder:
    return load_responder(ResponderConfig(model=str(trained[0])))


class FixedRewriter:
    """A rewriter that always says the same thing."""

    def __init__(self, text: str, languages=frozenset({"en", "es"})) -> None:
        self.text, self.languages, self.requests = text, languages, []

    def rewrite(self, request) -> Rewrite:
        self.requests.append(request)
        return Rewrite(self.text, -0.5)


def _with_rewriter(responder: Responder, text: str) -> tuple[Responder, FixedRewriter]:
    rewriter = FixedRewriter(text)
    return Responder(responder.selector, rewriter, responder.guard, responder.config), rewriter


def test_training_writes_a_complete_folder_and_reports_the_contract_keys(trained):
    folder, result, _ = trained
    assert {"out", "best_valid_loss", "epochs", "seconds"} <= set(result)
    assert result["out"] == str(folder)
    for name in (
        "responder.json",
        "tokenizer.json",
        "selector.safetensors",
        "rewriter.safetensors",
        "common_words.json",
        "encoder/config.json",
        "memory.safetensors",
        "memory.json",
    ):
        assert (folder / name).exists(), name
    meta = json.loads((folder / "responder.json").read_text())
    assert meta["languages"] == ["en", "es"] and meta["rewriter"] == "copy"


def test_every_reply_is_grounded_and_in_the_question_language(responder, trained):
    passages = trained[2]
    for question, lang in (
        ("How much is standard delivery?", "en"),
        ("¿Cuánto cuesta la entrega?", "es"),
    ):
        reply = responder.generate(question, lang, "info", [p for p in passages])
        assert reply.language == lang
        assert reply.grounded and reply.path in ("generated", "extractive")
        assert reply.cited_ids


def test_an_empty_question_is_refused(responder, trained):
    with pytest.raises(ParlaError, match="empty"):
        responder.generate("   ", "en", None, trained[2])


def test_no_passages_gives_an_apology_and_offers_a_person(responder):
    reply = responder.generate("Do you sell cars?", "en", None, [])
    assert reply.path == "no_answer"
    assert reply.text == NO_ANSWER["en"]
    assert reply.cited_ids == ()


def test_passages_only_in_another_language_are_quoted_after_a_warning(responder, trained):
    english = [p for p in trained[2] if p.language == "en"]
    reply = responder.generate("¿Cuánto cuesta la entrega?", "es", None, english)
    assert reply.path == "extractive"
    assert reply.text.startswith(OTHER_LANGUAGE["es"])
    assert any("another language" in n for n in reply.notes)


def test_a_language_the_rewriter_was_not_trained_on_is_answered_extractively(responder):
    passages = [
        Passage(
            "de/lieferung.md",
            "Lieferung",
            "Die Standardlieferung kostet 4,99 EUR. Sie dauert 3 bis 5 Tage.",
            "de",
            0.9,
        )
    ]
    reply = responder.generate("Was kostet die Lieferung?", "de", None, passages)
    assert reply.path == "extractive"
    assert reply.text in passages[0].text
    assert reply.language == "de"


def test_twenty_long_passages_are_truncated_by_the_stated_rule(responder):
    def words(i: int) -> str:  # 2,000 words, every sentence different (repeats are ranked once)
        return " ".join(f"Delivery option {i}-{n} takes {n} days." for n in range(400))

    passages = [
        Passage(f"en/long-{i}.md", "Long", words(i), "en", 0.9 - i / 100) for i in range(20)
    ]
    reply = responder.generate("How long does delivery take?", "en", None, passages)
    config = responder.config
    assert f"kept the first {config.max_passages} of 20 passages" in reply.notes
    assert f"passages cut to {config.max_passage_chars} characters" in reply.notes
    assert any(n.startswith(f"ranked the first {config.max_sentences}") for n in reply.notes)
    assert set(reply.cited_ids) <= {f"en/long-{i}.md" for i in range(config.max_passages)}


def test_an_unsupported_rewrite_falls_back_to_the_selected_sentences(responder):
    guarded, rewriter = _with_rewriter(responder, "Standard delivery costs 7.99 EUR.")
    reply = guarded.generate("How much is standard delivery?", "en", "info", [DELIVERY])
    assert rewriter.requests, "the rewriter was asked"
    assert reply.path == "extractive" and reply.grounded
    assert "7.99" not in reply.text
    assert any(n.startswith("guard:") and "7.99" in n for n in reply.notes)


def test_a_supported_rewrite_is_used(responder):
    guarded, rewriter = _with_rewriter(responder, "Standard delivery costs 4.99 EUR.")
    reply = guarded.generate(
        "How much is standard delivery?",
        "en",
        "info",
        [DELIVERY],
        history=["hello", "I ordered a TV"],
    )
    assert reply.path == "generated" and reply.text == "Standard delivery costs 4.99 EUR."
    request = rewriter.requests[-1]
    assert request.history == ("hello", "I ordered a TV")[-responder.config.history_turns :]
    assert 1 <= len(request.sentences) <= responder.config.rewriter_sentences


def test_without_the_rewriter_the_reply_is_extractive(responder, trained):
    extractive = Responder(
        responder.selector,
        None,
        responder.guard,
        dataclasses.replace(responder.config, use_rewriter=False),
    )
    reply = extractive.generate("How much is standard delivery?", "en", None, trained[2])
    assert reply.path == "extractive"
    assert reply.text


def test_the_memory_holds_every_labelled_question_and_its_answer_sentences(responder, trained):
    memory = responder.selector.memory
    assert memory is not None
    assert len(memory.answers) == len(memory.vectors) == 2 * len(examples())  # train + valid
    kb_sentences = {s.text for s in split_passages(trained[2])}
    assert all(answer and set(answer) <= kb_sentences for answer in memory.answers)


def test_the_memory_vote_moves_the_sentence_its_neighbours_were_answered_with(responder):
    sentences = [s.sentence for s in responder.selector.rank("How fast is it?", _delivery())]
    last = sentences[-1]
    memory = AnswerMemory(
        responder.selector.embed_questions(["How fast is it?"]),
        ((last.text,),),
        MemorySettings(weight=10.0, neighbours=1, temperature=0.05),
    )
    voted = AnswerSelector(responder.selector.encoder, responder.selector.head, memory=memory)
    assert voted.rank("How fast is it?", _delivery())[0].sentence.text == last.text


def _delivery():
    return split_passages([DELIVERY])


def test_loading_a_folder_that_is_not_a_responder_fails_in_one_line(tmp_path):
    with pytest.raises(ParlaError, match="not a responder folder"):
        load_responder(ResponderConfig(model=str(tmp_path)))
    with pytest.raises(ParlaError, match="does not exist"):
        load_responder(ResponderConfig(model=str(tmp_path / "missing" / "x")))


def test_the_demo_responder_must_be_built_first(parla_home):
    with pytest.raises(ParlaError, match="parla setup"):
        load_responder(ResponderConfig(model="demo:responder"))


def test_word_salad_made_of_supported_words_is_rejected(responder):
    guarded, _ = _with_rewriter(responder, "EUR costs delivery 4.99 standard business takes.")
    reply = guarded.generate("How much is standard delivery?", "en", "info", [DELIVERY])
    assert reply.path == "extractive"
    assert any("word order" in n for n in reply.notes)


def test_a_seq2seq_base_model_becomes_the_rewriter(tmp_path):
    """`--base` naming an encoder-decoder (t5, bart ...) fine-tunes it as the rewriter."""
    kb = write_kb(tmp_path / "kb")
    encoder = build_tiny_encoder(tmp_path / "encoder", kb)
    t5 = build_tiny_seq2seq(tmp_path / "t5", encoder)
    settings = dataclasses.replace(tiny_training(), selector_encoder=str(encoder))
    result = train_responder(
        examples(), examples(), read_kb(kb), tmp_path / "out", str(t5), settings
    )
    assert result["rewriter"] == "seq2seq"
    responder = load_responder(ResponderConfig(model=str(tmp_path / "out"), min_confidence=-1e9))
    passage = Passage("en/delivery.md", "Delivery", "Standard delivery costs 4.99 EUR.", "en", 0.9)
    reply = responder.generate("How much is delivery?", "en", None, [passage])
    assert reply.path in ("generated", "extractive") and reply.grounded
    assert any(n.startswith("guard:") for n in reply.notes) or reply.path == "generated"


def test_an_extractive_reply_never_mixes_two_articles():
    from agent.answer_selection import ScoredSentence
    from agent.responder import choose
    from agent.sentences import Sentence

    express = Sentence("Express delivery costs 9.99 EUR.", "Express", "en/delivery.md")
    abroad = Sentence("Delivery abroad takes 7 days.", "Abroad", "en/international.md")
    same = Sentence("It arrives the next working day.", "Express", "en/delivery.md")
    config = ResponderConfig(extractive_sentences=3, extractive_margin=0.05)
    ranked = [
        ScoredSentence(express, 0.90),
        ScoredSentence(abroad, 0.89),
        ScoredSentence(same, 0.88),
    ]
    assert choose(ranked, config) == [express, same]
    assert choose(ranked[:2], dataclasses.replace(config, extractive_margin=0.0)) == [express]


def test_the_passage_score_moves_a_sentence_of_the_better_passage_ahead():
    from agent.answer_selection import ScoredSentence
    from agent.responder import with_passage_scores
    from agent.sentences import Sentence

    passages = [
        Passage("en/express.md", "Express", "x", "en", 0.90),
        Passage("en/abroad.md", "Abroad", "y", "en", 0.70),
    ]
    express = Sentence("Express costs 9.99 EUR.", "Express", "en/express.md", passage=0)
    abroad = Sentence("Abroad costs 19.99 EUR.", "Abroad", "en/abroad.md", passage=1)
    ranked = [ScoredSentence(abroad, 0.80), ScoredSentence(express, 0.75)]
    assert with_passage_scores(ranked, passages, 0.0) == ranked
    best = with_passage_scores(ranked, passages, 1.0)[0]
    assert best.sentence == express and best.score == pytest.approx(1.65)


def test_a_very_short_or_lower_case_sentence_is_said_with_its_heading():
    from agent.responder import extractive_text
    from agent.sentences import Sentence

    assert extractive_text(Sentence("Price: 9.99 EUR.", "Express", "d")) == (
        "Express: Price: 9.99 EUR."
    )
    assert extractive_text(Sentence("phones; laptops.", "Not returnable", "d")).startswith("Not")
    asked = Sentence("refuse the parcel.", "Already shipped?", "d")
    assert extractive_text(asked) == "Already shipped? refuse the parcel."
    long = "Express parcels leave the warehouse the same day."
    assert extractive_text(Sentence(long, "Express", "d")) == long


def test_a_rare_word_of_the_question_moves_its_sentence_ahead():
    from agent.answer_selection import ScoredSentence
    from agent.responder import with_shared_words
    from agent.sentences import Sentence

    eu = Sentence("Orders to the EU take 4-7 days.", "International", "d", passage=0)
    italy = Sentence("Orders to Italy take 5 days.", "International", "d", passage=0)
    other = Sentence("Orders within Germany take 2 days.", "Standard", "d", passage=0)
    ranked = [ScoredSentence(eu, 0.80), ScoredSentence(italy, 0.78), ScoredSentence(other, 0.7)]
    question = "How long do orders to Italy take?"
    assert with_shared_words(ranked, question, 0.0) == ranked
    rescored = with_shared_words(ranked, question, 0.1)
    assert [s.sentence for s in rescored][:2] == [italy, eu]
    # "orders" and "take" are in every candidate: only "italy" (and "to") tell them apart.
    assert rescored[0].score - 0.78 > rescored[1].score - 0.80
    assert with_shared_words(ranked, "¿Cuánto tarda?", 0.1) == ranked  # no word in common


def test_decoding_gives_up_only_below_what_a_rewrite_needs():
    import math

    from agent.responder import give_up_below

    assert give_up_below(-0.3, 2.0) == pytest.approx(-0.6)
    assert give_up_below(-0.3, 0.0) == -math.inf  # off
    assert give_up_below(-math.inf, 2.0) == -math.inf  # no threshold: nothing is hopeless
    assert give_up_below(math.inf, 2.0) == -math.inf  # rewriter never used: nothing to save
    with pytest.raises(ParlaError, match="give_up_factor"):
        give_up_below(-0.3, 0.5)  # a cut-off reply could pass the threshold
