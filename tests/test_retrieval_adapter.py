"""The query adapter learned from labelled questions."""

import logging
from dataclasses import replace

import numpy as np
import pytest

from agent.errors import ParlaError
from retrieval.adapter import (
    AdapterSettings,
    QueryAdapter,
    QuestionMemory,
    article_key,
    train_query_adapter,
    training_set,
)
from retrieval.builder import build_index, embed_questions
from retrieval.knowledge_base import KnowledgeBase, open_index
from retrieval.queries import LabelledQuery
from retrieval.store import read_manifest
from tests.retrieval_helpers import WordEmbedder, small_config, write_kb

# Questions that share no word with their article: the bag-of-words embedder ranks them by
# chance, so only learning can put the right article first.
TRAIN = [
    LabelledQuery("parcel arrival speed", ("en/delivery.md",), "en"),
    LabelledQuery("sending stuff back", ("en/returns.md",), "en"),
]


def test_identity_adapter_changes_nothing():
    vectors = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(QueryAdapter(np.eye(8)).apply(vectors), vectors, atol=1e-6)


def test_training_moves_questions_to_their_documents():
    rng = np.random.default_rng(0)
    chunks = rng.standard_normal((6, 16)).astype(np.float32)
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    queries = rng.standard_normal((3, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    docs = ["a", "a", "b", "b", "c", "c"]
    labelled = [LabelledQuery(f"q{i}", (d,)) for i, d in enumerate("abc")]
    data = training_set(labelled, queries, docs, ["en"] * 6)
    adapter = train_query_adapter(data, chunks, AdapterSettings(steps=150, learning_rate=0.02))
    best = (adapter.apply(queries) @ chunks.T).argmax(axis=1)
    assert [docs[i] for i in best] == ["a", "b", "c"]


def test_questions_about_unknown_documents_are_ignored(caplog):
    labelled = [LabelledQuery("q", ("missing.md",)), LabelledQuery("r", ("a",))]
    with caplog.at_level(logging.WARNING, logger="retrieval.adapter"):
        data = training_set(labelled, np.ones((2, 4), np.float32), ["a"], ["en"])
    assert len(data.positives) == 1 and "1 of 2" in caplog.text
    none = training_set(labelled[:1], np.ones((1, 4), np.float32), ["a"], ["en"])
    with pytest.raises(ParlaError, match="no training question"):
        train_query_adapter(none, np.ones((1, 4), np.float32))


def test_an_index_taught_by_questions_answers_them_and_keeps_its_adapter(tmp_path):
    kb_dir = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    embedder = WordEmbedder()
    config = small_config()
    _, report = build_index(kb_dir, out, embedder, config, TRAIN)
    manifest = read_manifest(out)
    assert manifest.adapter["queries"] == 2 and (out / "query-adapter.npy").exists()
    kb = KnowledgeBase(embedder, open_index(out, embedder, config), config, out)
    for q in TRAIN:
        assert kb.search(q.query, "en", 1).passages[0].doc_id == q.relevant[0]
    (kb_dir / "en" / "hours.txt").write_text("Stores open at nine.", encoding="utf-8")
    snapshot, _ = build_index(kb_dir, out, embedder, config)  # no questions: adapter kept
    assert snapshot.adapter is not None and read_manifest(out).adapter["queries"] == 2


def test_the_same_questions_over_the_same_chunks_are_not_learned_twice(tmp_path, monkeypatch):
    import retrieval.builder as builder

    kb_dir = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    embedder, config = WordEmbedder(), small_config()
    build_index(kb_dir, out, embedder, config, TRAIN)
    first = read_manifest(out)
    calls = []
    monkeypatch.setattr(builder, "teach", lambda *a, **k: calls.append(a) or a[0])
    build_index(kb_dir, out, embedder, config, TRAIN)
    assert calls == [] and read_manifest(out).updated == first.updated  # nothing rewritten
    build_index(kb_dir, out, embedder, config, TRAIN[:1])  # other questions: learn again
    assert len(calls) == 1


def test_each_language_gets_the_threshold_that_keeps_its_labelled_questions(tmp_path):
    from retrieval.builder import MIN_CALIBRATION_QUESTIONS

    kb_dir = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    embedder = WordEmbedder()
    words = ["delivery", "days", "parcel", "arrives", "return", "free", "thirty", "product"]
    questions = [  # word pairs from the English articles: scores spread over a range
        LabelledQuery(f"{words[i % 8]} {words[(3 * i + 1) % 8]}", ("en/delivery.md",), "en")
        for i in range(MIN_CALIBRATION_QUESTIONS)
    ]
    config = small_config(min_score=0.99, fallback_below=0.99, calibrated_keep=0.9)
    build_index(kb_dir, out, embedder, config, questions)
    learned = read_manifest(out).adapter["min_score_by_language"]
    assert set(learned) == {"en"} and learned["en"] < 0.99  # es had no questions: min_score
    kb = KnowledgeBase(embedder, open_index(out, embedder, config), config, out)
    kept = [kb.search(q.query, "en").relevant for q in questions]
    assert sum(kept) >= 0.9 * len(questions)
    strict = replace(config, calibrated_keep=0.0)  # calibration off: min_score everywhere
    kb = KnowledgeBase(embedder, open_index(out, embedder, strict), strict, out)
    assert not any(kb.search(q.query, "en").relevant for q in questions)


def test_thresholds_come_from_the_best_shown_passage_without_the_memory(tmp_path):
    from retrieval.builder import MIN_CALIBRATION_QUESTIONS

    kb_dir, out, embedder = write_kb(tmp_path / "kb"), tmp_path / "index", WordEmbedder()
    words = ["delivery", "days", "parcel", "arrives", "return", "free", "thirty", "product"]
    questions = [
        LabelledQuery(f"{words[i % 8]} {words[(5 * i + 2) % 8]}", ("en/returns.md",), "en")
        for i in range(MIN_CALIBRATION_QUESTIONS)
    ]
    config = small_config(calibrated_keep=0.9, top_k=3)
    build_index(kb_dir, out, embedder, config, questions)
    snapshot = open_index(out, embedder, config)
    assert snapshot.adapter is not None and snapshot.adapter.memory is not None
    plain = replace(snapshot, adapter=replace(snapshot.adapter, memory=None))
    vectors = embedder.embed_queries([q.query for q in questions])
    best = [max(h.score for h in plain.search(v, 3, ["en"])) for v in vectors]
    info = read_manifest(out).adapter
    assert info["min_score_by_language"]["en"] == round(float(np.quantile(best, 0.1)), 4)
    build_index(kb_dir, out, embedder, replace(config, top_k=1), questions)
    assert read_manifest(out).adapter["calibration_shown"] == 1  # calibrated again


def test_a_new_calibration_share_teaches_the_index_again(tmp_path):
    kb_dir = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    embedder = WordEmbedder()
    build_index(kb_dir, out, embedder, small_config(calibrated_keep=0.0), TRAIN)
    assert "min_score_by_language" not in read_manifest(out).adapter
    build_index(kb_dir, out, embedder, small_config(calibrated_keep=0.9), TRAIN)
    info = read_manifest(out).adapter
    assert info["calibration_keep"] == 0.9 and info["min_score_by_language"] == {}  # 2 questions


def test_article_key_drops_a_language_folder_only():
    assert article_key("de/returns.md", "de") == "returns.md"
    assert article_key("faq.csv#3", "en") == "faq.csv#3"
    assert article_key("help/returns.md", "en") == "help/returns.md"
    assert article_key("en/returns.md", "de") == "en/returns.md"  # not its language's folder


def test_question_memory_boosts_the_closest_questions_article():
    vectors = np.eye(3, dtype=np.float32)
    memory = QuestionMemory(vectors, (("a.md",), ("b.md",), ("b.md", "c.md")), weight=0.1)
    boosts, default = memory.boosts(np.array([0.0, 0.6, 0.8], dtype=np.float32))
    assert boosts == pytest.approx({"a.md": 0.0, "b.md": 0.08, "c.md": 0.08})
    assert default == pytest.approx((0.0 + 0.08 + 0.08) / 3)  # for articles nobody asked about


def test_an_index_keeps_its_labelled_questions_and_leans_toward_their_articles(tmp_path):
    kb_dir = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    embedder, config = WordEmbedder(), small_config()
    build_index(kb_dir, out, embedder, config, TRAIN)
    snapshot = open_index(out, embedder, config)
    memory = snapshot.adapter.memory
    assert (out / "labelled-questions.npz").exists() and read_manifest(out).adapter[
        "question_weight"
    ] == AdapterSettings().question_weight
    assert memory.articles == (("delivery.md",), ("returns.md",))  # the en/ folder dropped
    # The same question in other words: no word in common with any article, one with a past
    # question. Through the identity map alone the order is chance; the memory decides it.
    query = embedder.embed_queries(["how fast is parcel arrival"])[0]
    plain = QueryAdapter(np.eye(embedder.dimension, dtype=np.float32))
    leaning = replace(plain, memory=replace(memory, weight=1.0))
    top = {}
    for name, adapter in (("plain", plain), ("leaning", leaning)):
        hits = replace(snapshot, adapter=adapter).search(query, 3, ["en"])
        top[name] = [snapshot.chunks[h.chunk_id].doc_id for h in hits]
    assert top["leaning"][0] == "en/delivery.md"
    assert set(top["leaning"]) == set(top["plain"])  # re-ranked, nothing else changes


def test_a_spanish_question_leans_toward_the_spanish_copy_of_its_article(tmp_path):
    kb_dir = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    embedder, config = WordEmbedder(), small_config()
    questions = [LabelledQuery("sending stuff back", ("en/returns.md",), "en")]
    build_index(kb_dir, out, embedder, config, questions)
    snapshot = open_index(out, embedder, config)
    memory = replace(snapshot.adapter.memory, weight=1.0)
    adapter = QueryAdapter(np.eye(embedder.dimension, dtype=np.float32), memory=memory)
    query = embedder.embed_queries(["sending stuff back"])[0]
    hits = replace(snapshot, adapter=adapter).search(query, 1, ["es"])
    assert snapshot.chunks[hits[0].chunk_id].doc_id == "es/returns.md"
    boost = memory.boosts(query)[0]["returns.md"]
    assert boost > 0.5 and hits[0].rank == pytest.approx(hits[0].score + boost)


def test_a_damaged_question_file_is_a_one_line_error(tmp_path):
    kb_dir = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    embedder, config = WordEmbedder(), small_config()
    build_index(kb_dir, out, embedder, config, TRAIN)
    (out / "labelled-questions.npz").write_bytes(b"not numpy")
    with pytest.raises(ParlaError, match="cannot read labelled questions .*rebuild"):
        open_index(out, embedder, config)


class CountingEmbedder(WordEmbedder):
    """Records the query texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    def embed_queries(self, texts):
        self.queries += texts
        return super().embed_queries(texts)


def test_a_question_labelled_twice_is_embedded_once():
    embedder = CountingEmbedder()
    texts = ["wo ist mein paket", "refund time", "wo ist mein paket"]
    vectors = embed_questions(embedder, texts)
    assert embedder.queries == ["wo ist mein paket", "refund time"]
    np.testing.assert_allclose(vectors, WordEmbedder().embed_queries(texts))
