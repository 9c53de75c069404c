"""The evaluation tab's behaviour: pick a report folder, show its summaries and plots."""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path

from ui.reports import Report, gradio_file_url, no_report_text, read_report, report_folders

logger = logging.getLogger(__name__)


class ReportsPage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def choices(self) -> list[tuple[str, str]]:
        """(label, folder) for each report, newest first."""
        out = []
        for folder in report_folders(self.root):
            rel = folder.relative_to(self.root).as_posix() if folder != self.root else "."
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(folder.stat().st_mtime))
            out.append((f"{rel}  ({when})", str(folder)))
        return out

    def show(self, folder: str | None) -> str:
        """A report folder as Markdown with its plots inline (or the "no report yet" text)."""
        if not folder or not Path(folder).is_dir():
            return no_report_text(self.root)
        report = read_report(Path(folder))
        text = report.markdown or "_This report has no Markdown summary; its plots are below._"
        return f"**Report** `{report.folder}`\n\n{text}\n\n{plots_html(report)}"


def plots_html(report: Report) -> str:
    """The plots the Markdown does not show itself, two by two with their captions."""
    figures = [
        f'<figure><img src="{html.escape(gradio_file_url(path))}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for path, caption in report.plots
        if gradio_file_url(path) not in report.markdown
    ]
    return f'<div class="parla-plots">{"".join(figures)}</div>' if figures else ""
