"""Shared fixtures: where ../shared is, and an isolated PARLA_HOME per test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test with a clear message when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: this test needs the read-only ../shared folder")
    return path


@pytest.fixture
def parla_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "parla-home"
    monkeypatch.setenv("PARLA_HOME", str(home))
    return home
