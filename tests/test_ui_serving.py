"""Serving options: loopback by default, login, limits, no tunnel, no analytics; `parla demo`."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from agent.cli import build_parser
from agent.config import UIConfig, load_config
from agent.errors import ParlaError
from ui.commands import demo_ready, find_places, ui_config
from ui.serving import AUTH_ENV, is_loopback, launch_options, parse_auth, resolve_auth


def test_defaults_are_loopback_no_share_no_login():
    options = launch_options(UIConfig())
    assert options["server_name"] == "127.0.0.1" and options["share"] is False
    assert options["auth"] is None
    assert options["max_file_size"] == "50mb"
    assert options["enable_monitoring"] is False and options["mcp_server"] is False
    assert options["footer_links"] == ["api"]  # the API page stays reachable for scripts


def test_exposing_without_a_login_is_warned_about(caplog):
    launch_options(UIConfig(host="0.0.0.0"))
    assert "without a login" in caplog.text
    caplog.clear()
    launch_options(UIConfig(host="0.0.0.0"), auth=[("ops", "pw")])
    assert "without a login" not in caplog.text


def test_parse_auth():
    assert parse_auth("") is None
    assert parse_auth("ops:s3cr:et") == [("ops", "s3cr:et")]
    assert parse_auth("a:1, b:2") == [("a", "1"), ("b", "2")]
    for bad in ("nocolon", ":pw", "user:"):
        with pytest.raises(ParlaError, match="user:password"):
            parse_auth(bad)


def test_auth_flag_beats_env_beats_config(monkeypatch):
    config = UIConfig(auth="cfg:1")
    monkeypatch.setenv(AUTH_ENV, "env:2")
    assert resolve_auth("flag:3", config) == [("flag", "3")]
    assert resolve_auth(None, config) == [("env", "2")]
    monkeypatch.delenv(AUTH_ENV)
    assert resolve_auth(None, config) == [("cfg", "1")]
    assert resolve_auth(None, UIConfig()) is None


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


def test_demo_flags_parse_and_override_the_config():
    args = build_parser().parse_args(
        ["demo", "--host", "0.0.0.0", "--port", "8000", "--share", "--auth", "a:b", "--kb", "k"]
    )
    ui = ui_config(UIConfig(), args)
    assert (ui.host, ui.port, ui.share) == ("0.0.0.0", 8000, True)
    assert args.auth == "a:b" and args.kb == "k"
    assert ui_config(UIConfig(port=9000), build_parser().parse_args(["demo"])).port == 9000


def test_a_bad_login_is_one_line_before_any_model_loads(tmp_path):
    env = {"PARLA_HOME": str(tmp_path / "home"), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "demo", "--auth", "nocolon"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("parla: error: login")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "home").exists()  # nothing was set up for a command that cannot run


def test_fresh_home_is_not_ready(tmp_path):
    assert not demo_ready(tmp_path)


def test_default_places_copy_the_demo_help_centre_once(tmp_path):
    args = argparse.Namespace(index=None, kb=None)
    places = find_places(args, load_config(), tmp_path)
    assert places.kb_dir == tmp_path / "kb" and (tmp_path / "kb" / "en").is_dir()
    assert places.served_index is None and places.updated_index == tmp_path / "kb-index"
    (tmp_path / "kb" / "en" / "mine.md").write_text("# Mine\n\nmine")
    find_places(args, load_config(), tmp_path)
    assert (tmp_path / "kb" / "en" / "mine.md").exists()  # never copied over again


def test_own_index_is_served_once_it_exists(tmp_path):
    (tmp_path / "kb-index").mkdir()
    (tmp_path / "kb-index" / "manifest.json").write_text("{}")
    places = find_places(argparse.Namespace(index=None, kb=None), load_config(), tmp_path)
    assert places.served_index == tmp_path / "kb-index"


def test_explicit_index_without_a_folder_leaves_the_kb_read_only(tmp_path):
    places = find_places(
        argparse.Namespace(index=str(tmp_path / "ix"), kb=None), load_config(), tmp_path
    )
    assert places.served_index == places.updated_index == tmp_path / "ix"
    assert places.kb_dir is None


@pytest.mark.slow
def test_parla_demo_serves_the_page(tmp_path):
    import time
    import urllib.request

    from agent.models import parla_home
    from ui.serving import free_port

    if not demo_ready(parla_home()):
        pytest.skip("the demo models are missing: run `parla setup` first")
    port = free_port()
    command = [sys.executable, "-m", "agent.cli", "demo", "--port", str(port)]
    server = subprocess.Popen(
        command + ["--kb", str(tmp_path / "kb")], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline, page = time.monotonic() + 240, ""
        while time.monotonic() < deadline and server.poll() is None and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    page = reply.read().decode("utf-8", "replace")
            except OSError:
                time.sleep(1)
        assert server.poll() is None, server.stderr.read()
        assert '"title":"Parla"' in page and "Voltia help centre" in page
    finally:
        server.terminate()
        server.wait(30)
