"""The command line promised in ../shared/docs/cli-contract.md."""

import json
import subprocess
import sys

import pytest

from agent.cli import build_parser, main

CONTRACT = ["setup", "demo", "chat", "voice", "index", "finetune", "eval"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_help_lists_contract_commands():
    text = build_parser().format_help()
    for command in CONTRACT:
        assert command in text


def test_bad_arguments_exit_nonzero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["index", "build"])
    assert exc.value.code != 0


@pytest.mark.slow
def test_setup_json_prints_model_paths(parla_home):
    result = run_cli("setup", "--bundle-only", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out["models"]) >= {"whisper-base", "e5-small", "piper-joe-en"}
    assert out["seconds"] >= 0
    again = json.loads(run_cli("setup", "--bundle-only", "--json").stdout)
    assert again["models"] == out["models"]


def test_setup_error_is_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("PARLA_HOME", str(blocker / "home"))
    result = run_cli("setup", "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("parla: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr
