"""``parla demo``: prepare what is missing, load every stage once, serve the app.

The knowledge-base tab manages a folder of documents (``--kb``; by default ``$PARLA_HOME/kb``,
a copy of the demo help centre made on first run) and its own index (``$PARLA_HOME/kb-index``,
served from then on), so uploads survive a restart and never touch the demo's files.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from agent.config import ParlaConfig, UIConfig, load_config
from agent.models import DEFAULT_BUNDLE, atomic_dir, bundle_ready, demo_dir, parla_home
from ui.serving import resolve_auth, serve

logger = logging.getLogger(__name__)

DEMO_PARTS = ("index", "intent", "responder")  # what `parla setup` builds under demo_dir()


@dataclass(frozen=True)
class Places:
    """Where the app's index and documents live."""

    served_index: Path | None
    """The index answered from at start-up (None: the configured one, i.e. the demo's)."""
    updated_index: Path
    """Where re-indexing writes."""
    kb_dir: Path | None
    """The documents the knowledge-base tab manages (None: the tab cannot change anything)."""


def cmd_demo(args: argparse.Namespace) -> None:
    config = load_config(getattr(args, "config", None), getattr(args, "set", None))
    ui = ui_config(config.ui, args)
    auth = resolve_auth(getattr(args, "auth", None), ui)  # a bad login fails before any loading
    home = parla_home()
    ensure_setup(home)
    places = find_places(args, config, home)
    app, allowed, _ = build_demo_app(config, ui, places)
    serve(app, ui, auth, allowed_paths=allowed)


def ui_config(base: UIConfig, args: argparse.Namespace) -> UIConfig:
    """The config file's ``[ui]`` with the command line's flags on top."""
    return replace(
        base,
        host=getattr(args, "host", None) or base.host,
        port=getattr(args, "port", None) or base.port,
        share=bool(getattr(args, "share", False)) or base.share,
    )


def demo_ready(home: Path) -> bool:
    return all(bundle_ready(name, home) for name in DEFAULT_BUNDLE) and all(
        (demo_dir(home) / part).is_dir() for part in DEMO_PARTS
    )


def ensure_setup(home: Path) -> None:
    """First run on a machine: build the bundle, the demo index and the demo models."""
    if demo_ready(home):
        return
    from agent.setup import run_setup

    logger.info("preparing the models and the demo index (first run: several minutes)…")
    run_setup(home)


def find_places(args: argparse.Namespace, config: ParlaConfig, home: Path) -> Places:
    kb = getattr(args, "kb", None) or config.ui.kb_dir
    if getattr(args, "index", None):
        index = Path(args.index).expanduser()
        return Places(index, index, Path(kb).expanduser() if kb else None)
    own = home / "kb-index"
    served = own if (own / "manifest.json").exists() else None
    if kb:
        return Places(served, own, Path(kb).expanduser())
    return Places(served, own, seed_demo_kb(home / "kb"))


def seed_demo_kb(folder: Path) -> Path:
    """A copy of the demo help centre the operator may change (made once)."""
    if not folder.exists():
        from agent.datasets import demo_kb_dir

        with atomic_dir(folder) as tmp:
            shutil.copytree(demo_kb_dir(), tmp, dirs_exist_ok=True)
        logger.info("copied the demo help centre to %s (the knowledge-base tab edits it)", folder)
    return folder


def build_demo_app(config: ParlaConfig, ui: UIConfig, places: Places):
    """Load every stage (voice included) and build the page.

    Returns the page, the folders it may serve files from, and its context (agent included).
    """
    from agent.loading import load_agent
    from ui.app import build_app
    from ui.chat_page import AppContext
    from ui.knowledge import FolderKnowledgeBase
    from ui.live_index import LiveIndex
    from ui.reports import reports_root

    bundle = load_agent(config, index_dir=places.served_index, voice=True)
    knowledge = None
    if places.kb_dir is not None:
        backend = LiveIndex(bundle.agent.stages, places.updated_index)
        limit = min(config.retrieval.max_file_mb, float(ui.max_upload_mb))
        knowledge = FolderKnowledgeBase(places.kb_dir, backend, limit)
    reports = reports_root(ui.reports_dir)
    ctx = AppContext(
        bundle.agent,
        bundle.sessions,
        asr=config.asr,
        ui=ui,
        languages=config.language.languages,
        knowledge=knowledge,
        reports_root=reports,
    )
    return build_app(ctx), [reports], ctx  # the page fetches only the reports' plots by URL
