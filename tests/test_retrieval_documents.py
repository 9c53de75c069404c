"""Ingestion: every format, stable ids, languages, and the bad inputs of issue #4."""

import json
import logging
import os

import pytest

from agent.errors import ParlaError
from retrieval.documents import read_knowledge_base
from tests.retrieval_helpers import write_kb


def by_id(ingested):
    return {d.doc_id: d for d in ingested.documents}


def test_markdown_front_matter_gives_title_and_language(tmp_path):
    docs = by_id(read_knowledge_base(write_kb(tmp_path)))
    assert set(docs) == {"en/returns.md", "en/delivery.md", "es/returns.md"}
    assert docs["es/returns.md"].title == "Política de devoluciones"
    assert docs["es/returns.md"].language == "es"
    assert "---" not in docs["en/returns.md"].text


def test_markdown_without_front_matter_uses_heading_and_detects_language(tmp_path):
    (tmp_path / "a.md").write_text(
        "# Livraison\n\nNous livrons en France et en Belgique sous trois jours ouvrés, "
        "et la livraison est gratuite à partir de quarante-neuf euros d'achat.",
        encoding="utf-8",
    )
    doc = read_knowledge_base(tmp_path).documents[0]
    assert (doc.title, doc.language) == ("Livraison", "fr")


def test_markdown_links_and_emphasis_are_text(tmp_path):
    (tmp_path / "a.md").write_text(
        "---\nlang: en\n---\nSee [our returns page](https://x.example/r) and **act fast**.",
        encoding="utf-8",
    )
    text = read_knowledge_base(tmp_path).documents[0].text
    assert text == "See our returns page and act fast."


def test_html_keeps_text_and_headings_without_scripts_or_styles(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html lang='de-DE'><head><title>Lieferung</title><style>p{color:red}</style></head>"
        "<body><script>var secret = 1;</script><h2>Kosten</h2><p>Der Versand kostet "
        "4,99&nbsp;EUR.</p><ul><li>Express</li><li>Standard</li></ul></body></html>",
        encoding="utf-8",
    )
    doc = read_knowledge_base(tmp_path).documents[0]
    assert (doc.title, doc.language) == ("Lieferung", "de")
    assert "## Kosten" in doc.text and "4,99" in doc.text and "- Express" in doc.text
    assert "secret" not in doc.text and "color" not in doc.text


def test_csv_and_jsonl_faq_rows_are_documents_with_fragment_ids(tmp_path):
    (tmp_path / "faq.csv").write_text(
        "question,answer,lang\nHow long is delivery?,Three days.,en\n"
        "¿Cuánto tarda?,Tres días.,es\n",
        encoding="utf-8",
    )
    rows = [
        {"id": "pw", "question": "How do I reset my password?", "answer": "Use the link."},
        {"question": "No answer here"},
    ]
    (tmp_path / "faq.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8"
    )
    ingested = read_knowledge_base(tmp_path)
    docs = by_id(ingested)
    assert set(docs) == {"faq.csv#1", "faq.csv#2", "faq.jsonl#pw"}
    assert docs["faq.csv#2"].title == "¿Cuánto tarda?" and docs["faq.csv#2"].language == "es"
    assert docs["faq.jsonl#pw"].text == "Use the link."
    reasons = {s.path: s.reason for s in ingested.skipped}
    assert "faq.jsonl#2" in reasons and reasons["faq.jsonl#3"] == "not valid JSON"


def write_pdf(path, text):
    """A one-page PDF with ``text`` in Helvetica, offsets computed so any reader accepts it."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))


def test_pdf_text_is_read_and_a_pdf_without_text_is_skipped(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    write_pdf(tmp_path / "hours.pdf", "Our stores open at nine and close at seven.")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with (tmp_path / "scan.pdf").open("wb") as fh:
        writer.write(fh)
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    ingested = read_knowledge_base(tmp_path)
    docs = by_id(ingested)
    assert "open at nine" in docs["hours.pdf"].text and docs["hours.pdf"].language == "en"
    reasons = {s.path: s.reason for s in ingested.skipped}
    assert "without extractable text" in reasons["scan.pdf"]
    assert reasons["junk.pdf"].startswith(("unreadable PDF", "PDF without"))


def test_single_file_is_a_knowledge_base(tmp_path):
    kb = write_kb(tmp_path)
    docs = read_knowledge_base(kb / "en" / "delivery.md").documents
    assert [d.doc_id for d in docs] == ["delivery.md"]


def test_empty_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(ParlaError, match="no usable documents"):
        read_knowledge_base(tmp_path)


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ParlaError, match="does not exist"):
        read_knowledge_base(tmp_path / "nope")


def test_bad_files_are_skipped_and_listed_in_one_warning(tmp_path, caplog):
    write_kb(tmp_path)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (tmp_path / "binary.txt").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "latin1.txt").write_bytes("café crème".encode("latin-1"))
    (tmp_path / "broken.md").symlink_to(tmp_path / "missing-target.md")
    (tmp_path / "empty.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    (tmp_path / "bad-front.md").write_text("---\ntitle: [unclosed\n---\nBody.", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="retrieval.documents"):
        ingested = read_knowledge_base(tmp_path)
    reasons = {s.path: s.reason for s in ingested.skipped}
    assert reasons["logo.png"] == "unsupported format .png"
    assert reasons["binary.txt"] == "binary, not text"
    assert reasons["latin1.txt"] == "not UTF-8 text"
    assert reasons["broken.md"].startswith("unreadable")
    assert reasons["empty.md"] == "empty"
    assert reasons["bad-front.md"].startswith("bad front matter")
    assert len(ingested.documents) == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "logo.png" in warnings[0].getMessage()


def test_duplicate_documents_are_kept_once(tmp_path):
    write_kb(tmp_path)
    (tmp_path / "copy").mkdir()
    text = (tmp_path / "en" / "delivery.md").read_text(encoding="utf-8")
    (tmp_path / "copy" / "delivery.md").write_text(text.replace("\n", "\n\n"), encoding="utf-8")
    ingested = read_knowledge_base(tmp_path)
    assert [(s.path, s.reason) for s in ingested.skipped] == [
        ("en/delivery.md", "duplicate of copy/delivery.md")
    ]


def test_a_100_mb_file_is_skipped_unread(tmp_path):
    write_kb(tmp_path)
    big = tmp_path / "huge.txt"
    with big.open("wb") as fh:  # sparse: no 100 MB written to the disk
        fh.truncate(100 * 1_000_000)
    ingested = read_knowledge_base(tmp_path, max_file_mb=20)
    assert [(s.path, s.reason) for s in ingested.skipped] == [
        ("huge.txt", "too large (100 MB > 20 MB)")
    ]


def test_hidden_files_and_folders_are_ignored(tmp_path):
    write_kb(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.md").write_text("secret notes", encoding="utf-8")
    (tmp_path / ".draft.md").write_text("draft", encoding="utf-8")
    ingested = read_knowledge_base(tmp_path)
    assert len(ingested.documents) == 3 and not ingested.skipped


@pytest.mark.skipif(os.name != "posix", reason="symlink semantics")
def test_ids_are_relative_posix_paths(tmp_path):
    write_kb(tmp_path)
    ids = [d.doc_id for d in read_knowledge_base(tmp_path).documents]
    assert ids == sorted(ids) and all("\\" not in i and not i.startswith("/") for i in ids)
