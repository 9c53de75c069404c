"""The evaluation tab's data: report folders written by ``parla eval ... --report DIR``.

A report folder holds Markdown summaries and PNG plots (confusion matrix, latency per stage,
error rates per language ...). Folders are found under the reports root (the root itself counts
when it holds reports directly), newest first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

REPORT_SUFFIXES = {".md", ".png"}
MAX_MARKDOWN_CHARS = 200_000  # a runaway report is cut rather than freezing the page
IMAGE_LINK = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")


def gradio_file_url(path: Path) -> str:
    """Where the page fetches a local file (its folder must be in launch's allowed_paths)."""
    return f"/gradio_api/file={path.resolve()}"


@dataclass(frozen=True)
class Report:
    folder: Path
    markdown: str
    """Every Markdown file of the folder, in name order, each under its own heading."""
    plots: tuple[tuple[Path, str], ...]
    """(PNG file, caption) pairs."""


def reports_root(configured: str = "") -> Path:
    from agent.models import parla_home

    return Path(configured).expanduser() if configured else parla_home() / "reports"


def report_folders(root: Path) -> list[Path]:
    """Folders under ``root`` (and ``root`` itself) that hold a report, newest first."""
    if not root.is_dir():
        return []
    candidates = [root] + sorted(p for p in root.rglob("*") if p.is_dir() and not _hidden(p, root))
    found = [(newest, p) for p in candidates if (newest := _newest_report_file(p)) is not None]
    return [p for _, p in sorted(found, key=lambda item: -item[0])]


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _newest_report_file(folder: Path) -> float | None:
    times = [
        f.stat().st_mtime
        for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() in REPORT_SUFFIXES
    ]
    return max(times) if times else None


def read_report(folder: Path, file_url: Callable[[Path], str] = gradio_file_url) -> Report:
    files = sorted(f for f in folder.iterdir() if f.is_file())
    parts = []
    for f in files:
        if f.suffix.lower() != ".md":
            continue
        try:
            parts.append(f.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            parts.append(f"_{f.name} could not be read ({exc.strerror})._")
    markdown = _inline_images("\n\n---\n\n".join(parts)[:MAX_MARKDOWN_CHARS], folder, file_url)
    plots = tuple((f, _caption(f)) for f in files if f.suffix.lower() == ".png")
    return Report(folder, markdown, plots)


def _inline_images(markdown: str, folder: Path, file_url: Callable[[Path], str]) -> str:
    """Point the report's relative image links at files the page can fetch."""

    def swap(match: re.Match[str]) -> str:
        target = folder / match.group(2)
        inside = target.resolve().is_relative_to(folder.resolve())
        if "://" in match.group(2) or not inside or not target.is_file():
            return match.group(0)
        return f"{match.group(1)}{file_url(target)}{match.group(3)}"

    return IMAGE_LINK.sub(swap, markdown)


def _caption(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()


def no_report_text(root: Path) -> str:
    return (
        "### No evaluation report yet\n\n"
        f"Nothing was found under `{root}`. Run the evaluations with a report folder, e.g.\n\n"
        f"```bash\nparla eval all --report {root}/$(date +%Y-%m-%d)\n```\n\n"
        "then press **Refresh**: the summaries and plots (confusion matrix, latency per stage, "
        "error rates per language) appear here."
    )
