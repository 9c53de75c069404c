"""Small plotting helpers for the evaluation report (matplotlib, headless)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    return plt


def per_language_bars(
    values: dict[str, dict[str, float]], title: str, path: Path, ylabel: str = ""
) -> Path:
    """Grouped bars: one group per language, one bar per metric (``{metric: {lang: value}}``)."""
    plt = _pyplot()
    metrics = list(values)
    langs = sorted({lang for v in values.values() for lang in v})
    width = 0.8 / max(len(metrics), 1)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = np.arange(len(langs))
    for i, metric in enumerate(metrics):
        ax.bar(
            x + i * width, [values[metric].get(lang, 0.0) for lang in langs], width, label=metric
        )
    ax.set_xticks(x + width * (len(metrics) - 1) / 2, langs)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    # below the axes, so no bar is hidden behind it
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_histograms(latencies: dict[str, list[float]], path: Path, title: str = "") -> Path:
    """One histogram per stage, milliseconds on the x axis, p50/p95 marked."""
    plt = _pyplot()
    stages = [s for s, v in latencies.items() if v]
    cols = min(3, max(len(stages), 1))
    rows = (len(stages) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, stage in zip(axes.flat, stages, strict=False):
        values = np.asarray(latencies[stage])
        ax.hist(values, bins=20, color="#3b7dd8")
        for q, style in ((50, "-"), (95, "--")):
            ax.axvline(np.percentile(values, q), color="k", linestyle=style, linewidth=1)
        ax.set_title(f"{stage} (p50 {np.percentile(values, 50):.0f} ms)", fontsize=9)
        ax.set_xlabel("ms", fontsize=8)
    for ax in list(axes.flat)[len(stages) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
