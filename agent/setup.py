"""``parla setup``: everything the demo needs, built once, idempotently, with progress shown.

1. the offline model bundle (Whisper, multilingual-e5-small, the Piper voice);
2. the demo help centre's FAISS index;
3. the fine-tuned multilingual intent model;
4. the fine-tuned responder (answer selector + rewriter).

Each step skips work that is already done and writes atomically, so an interrupted setup is
simply run again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent.models import DEFAULT_BUNDLE, parla_home, resolve_bundle

logger = logging.getLogger(__name__)


def cmd_setup(args: Any) -> dict[str, Any]:
    return run_setup(bundle_only=getattr(args, "bundle_only", False))


def _demo_steps() -> list[tuple[str, Callable[[Path], Path]]]:
    from finetune.intent import ensure_demo_intent_model
    from finetune.responder import ensure_demo_responder
    from retrieval.setup import build_demo_index

    return [
        ("index", build_demo_index),
        ("intent", ensure_demo_intent_model),
        ("responder", ensure_demo_responder),
    ]


def run_setup(home: Path | None = None, bundle_only: bool = False) -> dict[str, Any]:
    """Build what is missing; return the paths of every model and the time each step took.

    ``bundle_only`` stops after the offline model bundle (no index, no fine-tuning).
    """
    started = time.monotonic()
    home = home or parla_home()
    models: dict[str, str] = {}
    steps: dict[str, float] = {}
    bundle_steps = [(name, lambda h, n=name: resolve_bundle(n, h)) for name in DEFAULT_BUNDLE]
    all_steps = bundle_steps + ([] if bundle_only else _demo_steps())
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
