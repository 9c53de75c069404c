"""The evaluation tab: finding the latest report folder and showing its Markdown and plots."""

from __future__ import annotations

import os
import time

from ui.eval_page import ReportsPage
from ui.reports import read_report, report_folders

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def make_report(folder, text="# Intent\n\naccuracy 0.91", plots=("confusion_matrix.png",), age=0):
    folder.mkdir(parents=True)
    (folder / "summary.md").write_text(text)
    for name in plots:
        (folder / name).write_bytes(PNG)
    stamp = time.time() - age
    for f in folder.iterdir():
        os.utime(f, (stamp, stamp))
    return folder


def test_no_reports_says_so_and_how_to_make_one(tmp_path):
    page = ReportsPage(tmp_path / "reports")
    assert page.choices() == []
    text = page.show(None)
    assert "No evaluation report yet" in text and "parla eval all --report" in text
    assert str(tmp_path / "reports") in text


def test_latest_report_comes_first(tmp_path):
    root = tmp_path / "reports"
    make_report(root / "2026-01-01", age=3600)
    make_report(root / "2026-02-01")
    make_report(root / ".tmp-partial")  # a report still being written is not offered
    assert [p.name for p in report_folders(root)] == ["2026-02-01", "2026-01-01"]
    assert ReportsPage(root).choices()[0][0].startswith("2026-02-01")


def test_a_report_written_straight_into_the_root_counts(tmp_path):
    make_report(tmp_path / "reports")
    assert report_folders(tmp_path / "reports") == [tmp_path / "reports"]


def test_report_shows_markdown_and_captioned_plots(tmp_path):
    folder = make_report(
        tmp_path / "r",
        text="# Latency\n\n![per stage](latency_per_stage.png)\n\n![far](../secret.png)",
        plots=("latency_per_stage.png", "error-rates-per-language.png"),
    )
    report = read_report(folder)
    assert f"![per stage](/gradio_api/file={folder.resolve()}/latency_per_stage.png)" in (
        report.markdown
    )
    assert "![far](../secret.png)" in report.markdown  # outside the folder: left alone
    captions = [caption for _, caption in report.plots]
    assert captions == ["Error rates per language", "Latency per stage"]


def test_page_shows_the_plots_the_markdown_does_not_show_itself(tmp_path):
    folder = make_report(
        tmp_path / "reports" / "a",
        text="# Intent\n\naccuracy 0.91\n\n![cm](confusion_matrix.png)",
        plots=("confusion_matrix.png", "latency.png"),
    )
    text = ReportsPage(tmp_path / "reports").show(str(folder))
    assert "accuracy 0.91" in text
    assert text.count("confusion_matrix.png") == 1  # inline in the Markdown, not twice
    assert f'<img src="/gradio_api/file={folder.resolve()}/latency.png" alt="Latency">' in text
    assert "<figcaption>Latency</figcaption>" in text
