"""The knowledge-base tab's back office: uploads that change nothing when bad, live re-index."""

from __future__ import annotations

import threading

import pytest

from agent.errors import ParlaError
from tests.ui_fakes import KeywordKnowledgeBase, write_kb
from ui.kb_page import KnowledgePage, progress_html
from ui.knowledge import FolderKnowledgeBase, ReindexStatus


@pytest.fixture
def kb(tmp_path):
    folder = write_kb(tmp_path / "kb")
    backend = KeywordKnowledgeBase(folder)
    return FolderKnowledgeBase(folder, backend, max_file_mb=1), backend


def upload(tmp_path, name, data):
    path = tmp_path / "incoming" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def files_of(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_lists_every_document_as_indexed_at_start(kb):
    admin, _ = kb
    rows = admin.documents()
    assert {r.doc_id for r in rows} == {"en/returns.md", "es/devoluciones.md", "en/stores.md"}
    assert {r.status for r in rows} == {"indexed"}
    assert next(r for r in rows if r.doc_id == "es/devoluciones.md").language == "es"


def test_a_pdf_that_is_not_a_pdf_changes_nothing(kb, tmp_path):
    admin, _ = kb
    before = files_of(admin.kb_dir)
    with pytest.raises(ParlaError, match=r"Nothing was added\. manual\.pdf: unreadable PDF"):
        admin.add_files([upload(tmp_path, "manual.pdf", "just text, renamed")])
    assert files_of(admin.kb_dir) == before


def test_one_bad_file_among_good_ones_changes_nothing(kb, tmp_path):
    admin, _ = kb
    before = files_of(admin.kb_dir)
    good = upload(tmp_path, "warranty.md", "# Warranty\n\nThree years on laptops.")
    bad = upload(tmp_path, "photo.png", b"\x89PNG\r\n")
    with pytest.raises(ParlaError, match="photo.png: unsupported format .png"):
        admin.add_files([good, bad])
    assert files_of(admin.kb_dir) == before


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("binary.md", b"abc\x00def", "binary data, not text"),
        ("empty.txt", "   \n", "no text in it"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), "not UTF-8 text"),
        ("big.txt", "x" * 1_100_000, "too large"),
        (".hidden.md", "# x\n\ny", "hidden or unnamed file"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(kb, tmp_path, name, data, reason):
    admin, _ = kb
    with pytest.raises(ParlaError, match=reason):
        admin.add_files([upload(tmp_path, name, data)])


def test_no_file_at_all_is_refused(kb):
    with pytest.raises(ParlaError, match="No file was uploaded"):
        kb[0].add_files([])


def test_upload_then_reindex_answers_from_the_new_document(kb, tmp_path):
    admin, backend = kb
    added = admin.add_files([upload(tmp_path, "warranty.md", "# Warranty\n\nThree years.")])
    assert added == ["uploads/warranty.md"]
    assert _status(admin, "uploads/warranty.md") == "new"
    assert backend.search("warranty", "en", 3).passages == ()
    admin.start_reindex()
    status = admin.wait(10)
    assert status.state == "done" and "Re-indexed 4 documents" in status.message
    assert _status(admin, "uploads/warranty.md") == "indexed"
    assert backend.search("warranty", "en", 3).passages[0].doc_id == "uploads/warranty.md"


def test_an_upload_with_the_same_name_replaces_the_document(kb, tmp_path):
    admin, _ = kb
    admin.add_files([upload(tmp_path, "faq.md", "# FAQ\n\nfirst version")])
    admin.start_reindex()
    admin.wait(10)
    admin.add_files([upload(tmp_path, "faq.md", "# FAQ\n\nsecond version")])
    assert (admin.kb_dir / "uploads" / "faq.md").read_text().endswith("second version")
    assert _status(admin, "uploads/faq.md") == "changed"


def test_a_deleted_file_shows_until_the_next_reindex(kb):
    admin, _ = kb
    (admin.kb_dir / "en" / "stores.md").unlink()
    assert _status(admin, "en/stores.md").startswith("removed")
    admin.start_reindex()
    admin.wait(10)
    assert "en/stores.md" not in {r.doc_id for r in admin.documents()}


class GatedBackend(KeywordKnowledgeBase):
    """An index update that waits for the test's signal, or fails when told to."""

    def __init__(self, folder, fail=None):
        super().__init__(folder)
        self.gate, self.fail, self.calls = threading.Event(), fail, 0

    def update(self, kb_dir, progress):
        self.calls += 1
        progress(0.5, "Embedding…")
        self.gate.wait(10)
        if self.fail:
            raise self.fail
        return super().update(kb_dir, progress)


def test_a_second_reindex_while_one_runs_joins_it(tmp_path):
    backend = GatedBackend(write_kb(tmp_path / "kb"))
    admin = FolderKnowledgeBase(tmp_path / "kb", backend)
    assert admin.start_reindex().state == "running"
    assert admin.start_reindex().state == "running"
    backend.gate.set()
    assert admin.wait(10).state == "done" and backend.calls == 1


@pytest.mark.parametrize(
    ("error", "says"),
    [(ParlaError("index folder is read-only"), "read-only"), (RuntimeError("boom"), "server log")],
)
def test_a_failed_reindex_keeps_the_old_index_and_says_so(tmp_path, error, says):
    backend = GatedBackend(write_kb(tmp_path / "kb"), fail=error)
    backend.gate.set()
    admin = FolderKnowledgeBase(tmp_path / "kb", backend)
    admin.start_reindex()
    status = admin.wait(10)
    assert status.state == "failed" and says in status.message
    assert "previous index is still answering" in status.message
    assert backend.search("return", "en", 3).passages  # the old index still answers


def test_article_reads_the_document_and_refuses_paths_outside_the_folder(kb):
    admin, _ = kb
    assert "within 30 days" in admin.article("en/returns.md")
    assert admin.article("../../etc/passwd") is None
    assert admin.article("en/missing.md") is None


def test_the_page_reports_a_bad_upload_and_starts_nothing(kb, tmp_path):
    page = KnowledgePage(kb[0])
    line, _, running, rows, _ = page.add([str(upload(tmp_path, "manual.pdf", "not a pdf"))])
    assert "Nothing was added" in line and "parla-error" in line and not running
    assert len(rows) == 3


def test_the_page_summary_counts_waiting_documents(kb, tmp_path):
    page = KnowledgePage(kb[0])
    kb[0].add_files([upload(tmp_path, "new.md", "# New\n\ntext")])
    rows, summary = page.table()
    assert len(rows) == 4 and "3 documents" in summary and "1 waiting for a re-index" in summary


def test_progress_bar_shows_the_fraction_while_running():
    html = progress_html(ReindexStatus("running", 0.42, "Embedding…"))
    assert 'aria-valuenow="42"' in html and "42% · Embedding…" in html
    assert "parla-progress" not in progress_html(ReindexStatus("failed", 0, "no"))


def _status(admin, doc_id):
    return next(r.status for r in admin.documents() if r.doc_id == doc_id)


def test_live_index_builds_its_own_folder_and_swaps_the_agents_knowledge(tmp_path):
    from agent.pipeline import Stages
    from retrieval.builder import build_index
    from retrieval.knowledge_base import KnowledgeBase
    from tests.retrieval_helpers import WordEmbedder, small_config
    from tests.retrieval_helpers import write_kb as write_articles
    from ui.live_index import LiveIndex

    kb_dir, served = write_articles(tmp_path / "kb"), tmp_path / "served-index"
    embedder, config = WordEmbedder(), small_config()
    snapshot, _ = build_index(kb_dir, served, embedder, config)
    old = KnowledgeBase(embedder, snapshot, config, served)
    stages = Stages(None, None, None, old, None)
    admin = FolderKnowledgeBase(kb_dir, LiveIndex(stages, tmp_path / "own-index"))
    assert {r.status for r in admin.documents()} == {"indexed"}
    served_manifest = (served / "manifest.json").read_bytes()
    embedded_before = len(embedder.embedded)

    admin.add_files([upload(tmp_path, "warranty.md", "# Warranty\n\nLaptops: three years.")])
    assert admin.start_reindex().state == "running"
    assert admin.wait(30).state == "done"

    assert stages.knowledge is not old and stages.knowledge.index_dir == tmp_path / "own-index"
    top = stages.knowledge.search("laptops warranty years", "en", 1).passages[0]
    assert top.doc_id == "uploads/warranty.md"
    assert all("three years" in t for t in embedder.embedded[embedded_before:])  # only the new
    assert (served / "manifest.json").read_bytes() == served_manifest  # the demo's is untouched
    assert {r.status for r in admin.documents()} == {"indexed"}
