"""``parla setup``: everything the demo needs, built once, idempotently, with progress shown."""

from __future__ import annotations

import logging
import time
from typing import Any

from tqdm import tqdm

from agent.models import DEFAULT_BUNDLE, bundle_ready, parla_home, resolve_bundle

logger = logging.getLogger(__name__)


def cmd_setup(args: Any) -> dict[str, Any]:
    return run_setup()


def run_setup() -> dict[str, Any]:
    """Build the offline bundle (later stages add the demo index and fine-tuned models)."""
    started = time.monotonic()
    home = parla_home()
    models: dict[str, str] = {}
    todo = [name for name in DEFAULT_BUNDLE if not bundle_ready(name, home)]
    if not todo:
        logger.info("offline model bundle is ready in %s", home / "models")
    with tqdm(
        total=len(DEFAULT_BUNDLE), desc="model bundle", unit="model", disable=not todo
    ) as bar:
        for name in DEFAULT_BUNDLE:
            bar.set_postfix_str(name)
            models[name] = str(resolve_bundle(name, home))
            bar.update(1)
    return {"models": models, "home": str(home), "seconds": round(time.monotonic() - started, 2)}
