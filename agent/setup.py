"""``parla setup``: everything the demo needs, built once, idempotently, with progress shown.

1. the offline model bundle (Whisper, multilingual-e5-small, the Piper voice);
2. the demo help centre's FAISS index;
3. the fine-tuned multilingual intent model;
4. the fine-tuned responder (answer selector + rewriter).

Each step skips work that is already done and writes atomically, so an interrupted setup is
simply run again.

The first ``parla demo`` on a fresh machine must serve within 15 minutes, fine-tuning included,
on machines that differ in speed. So setup has a deadline (:func:`setup_deadline`): the index
and the intent model take what they take (a fixed recipe), and the responder, trained last,
fits its rewriter into the time left (see ``finetune.responder_build``); on a fast machine the
deadline changes nothing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent.models import DEFAULT_BUNDLE, parla_home, resolve_bundle

logger = logging.getLogger(__name__)

SERVE_WITHIN_S = 15 * 60  # a fresh machine's first `parla demo` serves within this
STARTUP_RESERVE_S = 60  # after setup: loading every model and starting the page
INSTALL_RESERVE_S = 120  # before setup, when its start is not known: apt-get and pip
STARTED_AT_ENV = "PARLA_STARTED_AT"  # epoch seconds at which scripts/demo.sh began
STALE_AFTER_S = 3600  # an older start time was left in the environment by another run


def setup_deadline(now: float | None = None) -> float:
    """Epoch seconds by which setup's training should be done.

    ``PARLA_STARTED_AT`` (set by ``scripts/demo.sh`` before it installs anything) counts the
    install against the 15 minutes; without it, setup assumes a typical install before it.
    """
    now = time.time() if now is None else now
    started = _started_at(now)
    if started is None:
        started = now - INSTALL_RESERVE_S
    return min(started, now) + SERVE_WITHIN_S - STARTUP_RESERVE_S


def _started_at(now: float) -> float | None:
    """``PARLA_STARTED_AT`` if it holds a plausible start time, else None (with a warning)."""
    raw = os.environ.get(STARTED_AT_ENV, "")
    if not raw:
        return None
    try:
        started = float(raw)
    except ValueError:
        logger.warning("%s=%r is not a time in epoch seconds: ignored", STARTED_AT_ENV, raw)
        return None
    if now - started > STALE_AFTER_S:
        logger.warning(
            "%s is %.0f s old, left from another run: ignored", STARTED_AT_ENV, now - started
        )
        return None
    return started


def cmd_setup(args: Any) -> dict[str, Any]:
    return run_setup(bundle_only=getattr(args, "bundle_only", False))


def _demo_steps(deadline: float) -> list[tuple[str, Callable[[Path], Path]]]:
    from finetune.intent import ensure_demo_intent_model
    from finetune.responder import ensure_demo_responder
    from retrieval.setup import build_demo_index

    return [
        ("index", build_demo_index),
        ("intent", ensure_demo_intent_model),
        ("responder", lambda home: ensure_demo_responder(home, deadline=deadline)),
    ]


def run_setup(
    home: Path | None = None, bundle_only: bool = False, deadline: float | None = None
) -> dict[str, Any]:
    """Build what is missing; return the paths of every model and the time each step took.

    ``bundle_only`` stops after the offline model bundle (no index, no fine-tuning);
    ``deadline`` (epoch seconds) defaults to :func:`setup_deadline`.
    """
    started = time.monotonic()
    deadline = setup_deadline() if deadline is None else deadline
    if not bundle_only:
        logger.info("setup: training fits into the next %.0f s", deadline - time.time())
    home = home or parla_home()
    models: dict[str, str] = {}
    steps: dict[str, float] = {}
    bundle_steps = [(name, lambda h, n=name: resolve_bundle(n, h)) for name in DEFAULT_BUNDLE]
    all_steps = bundle_steps + ([] if bundle_only else _demo_steps(deadline))
    with tqdm(total=len(all_steps), desc="parla setup", unit="step", position=0) as bar:
        for name, step in all_steps:
            bar.set_postfix_str(name)
            t0 = time.monotonic()
            models[name] = str(step(home))
            steps[name] = round(time.monotonic() - t0, 2)
            bar.update(1)
    logger.info("setup done in %.1f s: %s", time.monotonic() - started, steps)
    return {
        "models": models,
        "home": str(home),
        "steps_seconds": steps,
        "seconds": round(time.monotonic() - started, 2),
    }
