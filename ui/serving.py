"""Serving the app: address, login, limits, queue, and nothing sent anywhere else.

Loopback by default; ``--host 0.0.0.0`` exposes it deliberately (with a warning when no login
is set). ``--share`` (a public Gradio tunnel) is off unless asked for. Analytics are off.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.config import UIConfig
from agent.errors import ParlaError
from ui.style import CSS, head, theme

logger = logging.getLogger(__name__)

AUTH_ENV = "PARLA_AUTH"  # "user:password[,user2:password2]"


def parse_auth(value: str) -> list[tuple[str, str]] | None:
    """``user:password`` pairs separated by commas -> Gradio's auth list (None for "")."""
    if not value.strip():
        return None
    pairs = []
    for item in value.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user.strip() or not password:
            raise ParlaError(
                f"login {item.strip()!r} must look like user:password (--auth or {AUTH_ENV})"
            )
        pairs.append((user.strip(), password))
    return pairs


def resolve_auth(flag: str | None, config: UIConfig) -> list[tuple[str, str]] | None:
    """The login to require: ``--auth``, else ``$PARLA_AUTH``, else ``ui.auth``."""
    for value in (flag, os.environ.get(AUTH_ENV), config.auth):
        if value:
            return parse_auth(value)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (tests and benchmarks serve the app on one)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def launch_options(
    config: UIConfig,
    auth: list[tuple[str, str]] | None = None,
    allowed_paths: Sequence[Path] = (),
) -> dict[str, Any]:
    """Keyword arguments for ``gr.Blocks.launch``."""
    if not is_loopback(config.host) and auth is None:
        logger.warning(
            "serving on %s without a login: anyone who can reach this address can use Parla "
            "and its knowledge-base tab (set --auth user:password or %s)",
            config.host,
            AUTH_ENV,
        )
    if config.share:
        logger.warning("--share opens a public Gradio tunnel: it needs internet access")
    return {
        "server_name": config.host,
        "server_port": config.port,
        "share": config.share,
        "auth": auth,
        "auth_message": "Parla: sign in with the login the operator gave you.",
        "max_file_size": f"{config.max_upload_mb}mb",
        "allowed_paths": [str(p) for p in allowed_paths],
        "show_error": False,  # a turn's failure is said in the page; details stay in the log
        "footer_links": ["api"],  # the API page stays reachable for gradio_client scripts
        "enable_monitoring": False,
        "ssr_mode": False,  # no Node.js server: one process, fewer moving parts
        "pwa": False,
        "mcp_server": False,
        "theme": theme(),
        "css": CSS,
        "head": head(config.max_audio_s),
        "quiet": True,
    }


def serve(
    app: Any,
    config: UIConfig,
    auth: list[tuple[str, str]] | None = None,
    allowed_paths: Sequence[Path] = (),
    block: bool = True,
) -> str:
    """Queue and launch ``app``; returns its local URL (blocks until Ctrl-C when ``block``)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    app.queue(default_concurrency_limit=config.concurrency, max_size=config.queue_size)
    options = launch_options(config, auth, allowed_paths)
    try:
        app.launch(prevent_thread_lock=True, **options)
    except OSError as exc:
        raise ParlaError(
            f"cannot serve on {config.host}:{config.port} ({exc}): pass another --port"
        ) from None
    url = app.local_url or f"http://{config.host}:{config.port}/"
    logger.info("Parla is ready at %s", url)
    if block:
        app.block_thread()
    return url
