"""`parla setup`'s deadline: the first `parla demo` must serve within 15 minutes."""

from __future__ import annotations

import pytest

from agent import setup


def test_the_deadline_counts_from_when_the_demo_script_started(monkeypatch):
    monkeypatch.setenv(setup.STARTED_AT_ENV, "1000")
    deadline = setup.setup_deadline(now=1300.0)
    assert deadline == 1000 + setup.SERVE_WITHIN_S - setup.STARTUP_RESERVE_S


def test_without_a_start_time_a_typical_install_is_assumed(monkeypatch):
    monkeypatch.delenv(setup.STARTED_AT_ENV, raising=False)
    deadline = setup.setup_deadline(now=5000.0)
    expected = 5000 - setup.INSTALL_RESERVE_S + setup.SERVE_WITHIN_S - setup.STARTUP_RESERVE_S
    assert deadline == expected


@pytest.mark.parametrize("raw", ["soon", "12:30"])
def test_a_malformed_start_time_is_ignored_with_a_warning(monkeypatch, caplog, raw):
    monkeypatch.delenv(setup.STARTED_AT_ENV, raising=False)
    fallback = setup.setup_deadline(now=5000.0)
    monkeypatch.setenv(setup.STARTED_AT_ENV, raw)
    assert setup.setup_deadline(now=5000.0) == fallback
    assert "PARLA_STARTED_AT" in caplog.text


def test_a_start_time_left_from_an_old_run_is_ignored(monkeypatch, caplog):
    monkeypatch.delenv(setup.STARTED_AT_ENV, raising=False)
    fallback = setup.setup_deadline(now=100_000.0)
    monkeypatch.setenv(setup.STARTED_AT_ENV, str(100_000 - setup.STALE_AFTER_S - 1))
    assert setup.setup_deadline(now=100_000.0) == fallback
    assert "left from another run" in caplog.text


def test_a_start_time_in_the_future_counts_from_now(monkeypatch):
    monkeypatch.setenv(setup.STARTED_AT_ENV, "9999999999")
    assert setup.setup_deadline(now=100.0) == 100 + setup.SERVE_WITHIN_S - setup.STARTUP_RESERVE_S


def test_the_responder_step_gets_the_deadline(monkeypatch, tmp_path):
    seen = {}

    def fake_responder(home, deadline=None):
        seen["deadline"] = deadline
        return home

    import finetune.responder

    monkeypatch.setattr(finetune.responder, "ensure_demo_responder", fake_responder)
    steps = dict(setup._demo_steps(deadline=1234.0))
    steps["responder"](tmp_path)
    assert seen["deadline"] == 1234.0
