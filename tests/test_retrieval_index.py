"""Index build, incremental updates, manifest checks, atomic writes, and search behaviour."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from agent.errors import ParlaError
from retrieval import builder as builder_module
from retrieval.builder import build_index
from retrieval.documents import Document
from retrieval.knowledge_base import KnowledgeBase, open_index
from retrieval.store import MANIFEST, read_index, read_manifest
from retrieval.vectors import IndexSettings, VectorIndex, choose_kind
from tests.retrieval_helpers import ARTICLES, WordEmbedder, small_config, write_kb


@pytest.fixture
def kb_dir(tmp_path):
    return write_kb(tmp_path / "kb")


def build(kb_dir, out, embedder=None, **config):
    embedder = embedder or WordEmbedder()
    snapshot, report = build_index(kb_dir, out, embedder, small_config(**config))
    return embedder, snapshot, report


def knowledge_base(out, embedder, **config):
    cfg = small_config(**config)
    return KnowledgeBase(embedder, open_index(out, embedder, cfg), cfg, out)


def test_build_writes_manifest_chunks_and_one_index_per_language(kb_dir, tmp_path):
    out = tmp_path / "index"
    _, snapshot, report = build(kb_dir, out)
    manifest = read_manifest(out)
    assert report.documents == 3 and report.chunks == len(snapshot.chunks) >= 3
    assert set(manifest.partitions) == {"en", "es"}
    assert (out / "vectors-en.faiss").exists() and (out / "vectors-es.faiss").exists()
    assert manifest.embedder == "fake-words" and manifest.fingerprint == "f1"
    assert manifest.dimension == 64 and manifest.chunk_count == report.chunks
    doc = {d.doc_id: d for d in manifest.documents}["en/returns.md"]
    assert doc.title == "Return policy" and doc.language == "en" and doc.chunks >= 1
    assert manifest.created and manifest.updated


def test_rebuilding_an_unchanged_folder_embeds_nothing(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, first = build(kb_dir, out)
    assert first.embedded == first.chunks
    embedder.embedded.clear()
    _, _, again = build(kb_dir, out, embedder)
    assert again.embedded == 0 and embedder.embedded == []
    assert again.unchanged == 3 and not (again.added or again.updated or again.removed)


def test_a_changed_folder_touches_only_changed_files(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    embedder.embedded.clear()
    (kb_dir / "en" / "delivery.md").write_text(
        ARTICLES["en/delivery.md"].replace("five euros", "six euros"), encoding="utf-8"
    )
    (kb_dir / "es" / "returns.md").unlink()
    (kb_dir / "en" / "hours.txt").write_text("Stores open at nine.", encoding="utf-8")
    _, snapshot, report = build(kb_dir, out, embedder)
    assert report.updated == ("en/delivery.md",) and report.removed == ("es/returns.md",)
    assert report.added == ("en/hours.txt",) and report.unchanged == 1
    assert all("Return policy" not in t for t in embedder.embedded)  # untouched: not re-embedded
    assert set(snapshot.partitions) == {"en"}
    assert {d.doc_id for d in read_manifest(out).documents} == {
        "en/returns.md", "en/delivery.md", "en/hours.txt",
    }  # fmt: skip


def test_vectors_survive_an_update_exactly(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, first, _ = build(kb_dir, out)
    before = first.partitions["en"].index.vectors()
    (kb_dir / "es" / "returns.md").unlink()  # touches es only
    _, second, _ = build(kb_dir, out, embedder)
    np.testing.assert_array_equal(second.partitions["en"].index.vectors(), before)


def test_apply_adds_replaces_and_deletes_by_id_and_swaps_live(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    kb = knowledge_base(out, embedder)
    embedder.embedded.clear()
    new = Document("en/gift.md", "Gift cards", "en", "Gift cards never expire.", "en/gift.md")
    changed = Document("en/delivery.md", "Delivery costs", "en", "Delivery is always free.")
    report = kb.apply(upsert=[new, changed], delete=["es/returns.md"])
    assert report.added == ("en/gift.md",) and report.updated == ("en/delivery.md",)
    assert report.removed == ("es/returns.md",)
    assert len(embedder.embedded) == 2  # only the two new texts
    assert kb.search("do gift cards expire", "en", 1).passages[0].doc_id == "en/gift.md"
    reloaded = {d.doc_id for d in read_manifest(out).documents}
    assert reloaded == {"en/returns.md", "en/delivery.md", "en/gift.md"}
    with pytest.raises(ParlaError, match="unknown document"):
        kb.apply(delete=["nope.md"])


def test_update_from_folder_swaps_the_index_live(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    kb = knowledge_base(out, embedder)
    old_snapshot = kb.snapshot
    (kb_dir / "en" / "hours.txt").write_text("Stores open at nine every day.", encoding="utf-8")
    report = kb.update_from(kb_dir)
    assert report.added == ("en/hours.txt",)
    assert kb.snapshot is not old_snapshot
    assert kb.search("when do stores open", "en", 1).passages[0].doc_id == "en/hours.txt"
    assert "en/hours.txt" in {d.doc_id for d in kb.documents()}


def test_search_returns_passages_with_ids_titles_languages_and_scores(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    result = knowledge_base(out, embedder).search("how much does express delivery cost", "en", 2)
    top = result.passages[0]
    assert (top.doc_id, top.title, top.language) == ("en/delivery.md", "Delivery costs", "en")
    assert "Express delivery" in top.text
    assert result.relevant and not result.fallback and result.language == "en"
    assert [p.score for p in result.passages] == sorted(
        (p.score for p in result.passages), reverse=True
    )


def test_search_falls_back_across_languages_when_the_language_is_missing(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    result = knowledge_base(out, embedder).search("express delivery next day", "de", 3)
    assert result.fallback and result.best_same_language is None
    assert result.passages[0].doc_id == "en/delivery.md"


def test_search_falls_back_when_same_language_scores_are_weak(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    kb = knowledge_base(out, embedder, fallback_below=0.99)
    result = kb.search("express delivery next day", "es", 3)
    assert result.fallback and result.best_same_language is not None
    assert result.passages[0].doc_id == "en/delivery.md"
    strict = knowledge_base(out, embedder, fallback_below=-1.0)
    assert not strict.search("express delivery next day", "es", 3).fallback


def test_a_fallback_gives_the_users_own_copy_of_an_article_instead_of_its_translation(
    kb_dir, tmp_path
):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    kb = knowledge_base(out, embedder, fallback_below=0.99)  # always search every language
    question = "return a product within thirty days of delivery"  # the English article's words
    everywhere = kb.snapshot.search(embedder.embed_queries([question])[0], 10)
    assert kb.snapshot.chunks[everywhere[0].chunk_id].doc_id == "en/returns.md"
    result = kb.search(question, "es", 10)
    assert result.fallback and result.relevant
    doc_ids = [p.doc_id for p in result.passages]
    assert doc_ids[0] == "es/returns.md"  # the same article, in Spanish, first...
    assert "en/returns.md" not in doc_ids  # ...and its translation no longer takes a slot
    articles = {(kb.snapshot.article(p.chunk_id), p.language) for p in result.passages}
    assert len({article for article, _ in articles}) == len(articles)  # one copy per article
    # An article with no Spanish copy keeps its place.
    assert kb.search("express delivery next day", "es", 3).passages[0].doc_id == "en/delivery.md"


def test_below_the_threshold_there_is_no_relevant_passage(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    kb = knowledge_base(out, embedder, min_score=0.5)
    result = kb.search("zebra quantum banana", "en", 3)
    assert not result.relevant and result.passages  # shown in the trace, but not answered from
    assert kb.search("   ", "en").passages == ()
    with pytest.raises(ParlaError, match="at least 1"):
        kb.search("returns", "en", 0)


def test_index_from_another_embedder_is_refused(kb_dir, tmp_path):
    out = tmp_path / "index"
    build(kb_dir, out)
    other = WordEmbedder(name="other-model", fingerprint="f2")
    with pytest.raises(ParlaError, match="built with embedder 'fake-words'"):
        open_index(out, other, small_config())


def test_building_over_an_index_of_another_embedder_rebuilds_it(kb_dir, tmp_path):
    out = tmp_path / "index"
    build(kb_dir, out)
    other = WordEmbedder(name="other-model", fingerprint="f2")
    _, _, report = build(kb_dir, out, other)
    assert report.embedded == report.chunks and read_manifest(out).fingerprint == "f2"


def test_index_from_an_older_version_is_refused_with_a_fix(kb_dir, tmp_path):
    out = tmp_path / "index"
    build(kb_dir, out)
    data = json.loads((out / MANIFEST).read_text())
    data["format"] = 0
    (out / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(ParlaError, match="format 0.*rebuild it with `parla index build"):
        read_index(out, IndexSettings())


def test_a_folder_that_is_not_an_index_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(ParlaError, match="not a Parla index"):
        read_manifest(tmp_path / "x")
    with pytest.raises(ParlaError, match="does not exist"):
        read_manifest(tmp_path / "missing")


def test_damaged_index_is_refused(kb_dir, tmp_path):
    out = tmp_path / "index"
    build(kb_dir, out)
    shutil.copy(out / "vectors-es.faiss", out / "vectors-en.faiss")
    with pytest.raises(ParlaError, match="damaged"):
        read_index(out, IndexSettings())


def test_a_crash_during_a_build_leaves_the_previous_index_usable(kb_dir, tmp_path, monkeypatch):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    before = sorted(p.name for p in out.iterdir())
    (kb_dir / "en" / "hours.txt").write_text("Stores open at nine.", encoding="utf-8")

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(builder_module.VectorIndex, "build", crash)
    with pytest.raises(RuntimeError):
        build(kb_dir, out, embedder)
    assert sorted(p.name for p in out.iterdir()) == before
    assert not list(tmp_path.glob(".tmp-index-*"))
    kb = knowledge_base(out, embedder)
    assert "en/hours.txt" not in {d.doc_id for d in kb.documents()}
    assert kb.search("express delivery", "en", 1).passages


def test_duplicate_ids_in_an_update_are_refused(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    kb = knowledge_base(out, embedder)
    doc = Document("en/x.md", "X", "en", "Some text.")
    with pytest.raises(ParlaError, match="unique"):
        kb.apply(upsert=[doc, doc])


def test_index_kind_is_flat_when_small_and_hnsw_above_the_crossover():
    settings = IndexSettings(approximate_above=100)
    assert choose_kind(100, settings) == "flat" and choose_kind(101, settings) == "hnsw"
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    hnsw = VectorIndex.build(vectors, settings, 16)
    flat = VectorIndex.build(vectors, IndexSettings(kind="flat"), 16)
    assert (hnsw.kind, flat.kind) == ("hnsw", "flat")
    _, exact = flat.search(vectors[:20], 5)
    _, approx = hnsw.search(vectors[:20], 5)
    assert (exact[:, 0] == np.arange(20)).all() and (approx[:, 0] == np.arange(20)).all()
    np.testing.assert_allclose(hnsw.vectors(), vectors)


def test_hnsw_index_round_trips_through_a_folder(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out, index_kind="hnsw")
    assert read_manifest(out).partitions["en"]["kind"] == "hnsw"
    kb = knowledge_base(out, embedder, index_kind="hnsw")
    assert kb.search("express delivery", "en", 1).passages[0].doc_id == "en/delivery.md"


def test_gpu_without_faiss_gpu_is_a_clear_error():
    if hasattr(__import__("faiss"), "StandardGpuResources"):
        pytest.skip("faiss-gpu is installed here")
    with pytest.raises(ParlaError, match="faiss-gpu"):
        VectorIndex.build(np.zeros((2, 4), np.float32), IndexSettings(device="gpu"), 4)


def test_demo_query_files_point_at_existing_documents(tmp_path):
    from agent.datasets import demo_kb_dir
    from retrieval.queries import read_queries
    from retrieval.setup import demo_train_queries, write_demo_queries

    files = write_demo_queries(tmp_path)
    assert set(files) == {"test", "crosslingual-test"}
    kb = demo_kb_dir()
    for name, path in files.items():
        queries = read_queries(path)
        root = kb / "en" if name.startswith("crosslingual") else kb
        assert all((root / q.relevant[0]).is_file() for q in queries), name
        if name.startswith("crosslingual"):
            assert all(q.lang != "en" for q in queries)
    test_questions = {q.query for q in read_queries(files["test"])}
    train = demo_train_queries()
    assert not test_questions & {q.query for q in train}  # never learn from the test split
    assert len(train) > len(demo_train_queries(splits=("train",)))
    assert all((kb / q.relevant[0]).is_file() for q in train)
    assert all((kb / "en" / q.relevant[0]).is_file() for q in demo_train_queries(True))


def test_passages_in_another_language_have_their_own_threshold(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    question = "express delivery next day"
    top = knowledge_base(out, embedder).search(question, "de", 1).passages[0].score
    strict = knowledge_base(out, embedder, min_score=top + 0.01, min_score_other_language=1.0)
    assert not strict.search(question, "de", 1).relevant
    lenient = knowledge_base(out, embedder, min_score=top + 0.01, min_score_other_language=0.0)
    assert lenient.search(question, "de", 1).relevant  # an English passage, a German question
    assert not lenient.search(question, "en", 1).relevant  # same language: min_score applies


def test_a_passage_carries_the_headings_it_was_cut_from(kb_dir, tmp_path):
    out = tmp_path / "index"
    embedder, _, _ = build(kb_dir, out)
    result = knowledge_base(out, embedder).search("opened software engraved items", "en", 1)
    top = result.passages[0]
    assert (top.doc_id, top.section) == ("en/returns.md", "Exceptions")


TORCH_THEN_FAISS = """
import numpy as np, torch
torch.set_num_threads(2)
from retrieval.vectors import IndexSettings, VectorIndex
vectors = np.eye(8, dtype=np.float32)
index = VectorIndex.build(vectors, IndexSettings(search_threads=1), dimension=8)
built = torch.get_num_threads()
index.search(vectors[:1], 3)
print(built, torch.get_num_threads())
"""


def test_building_and_searching_leave_torchs_thread_count_alone():
    # With torch loaded first, FAISS's OpenMP calls reach torch's runtime: its thread count is
    # the process's (a fresh process, since this one may have loaded FAISS first).
    done = subprocess.run(
        [sys.executable, "-c", TORCH_THEN_FAISS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "2"]
