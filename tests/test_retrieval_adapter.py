"""The query adapter learned from labelled questions."""

import logging

import numpy as np
import pytest

from agent.errors import ParlaError
from retrieval.adapter import AdapterSettings, QueryAdapter, train_query_adapter, training_set
from retrieval.builder import build_index
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
