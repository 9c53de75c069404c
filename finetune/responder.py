"""``parla finetune responder`` and the demo responder that ``parla setup`` builds.

What gets trained, from one warm start (the bundled multilingual-e5 by default):

1. a trimmed vocabulary (the pieces the languages and data use) and a frozen, truncated copy
   of the encoder whose token states everything else reads;
2. the answer selector (the encoder's top layers, fine-tuned as a bi-encoder);
3. the rewriter: pre-trained on self-supervised pairs made from the knowledge base, then
   fine-tuned on the real question / reply pairs. With ``--base`` naming a seq2seq model
   (t5, mt5, bart ...) that model is fine-tuned as the rewriter instead.

The folder written (atomically) holds ``responder.json`` (what was trained and how well),
``tokenizer.json``, ``encoder/``, ``selector.safetensors``, the rewriter and
``common_words.json`` (for the groundedness guard).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from agent.datasets import ResponderExample, read_responder_file
from agent.errors import ParlaError
from agent.models import ModelSpec, atomic_dir, demo_dir
from finetune.responder_data import KBDocument, read_kb
from finetune.responder_loop import LoopConfig
from finetune.responder_rewriter import RewriterTraining
from finetune.responder_selector import SelectorTraining
from finetune.training import fingerprint

logger = logging.getLogger(__name__)

# Bump when the folder layout or the answer candidates change: old demo folders are retrained.
# 2: a bulleted list's items are candidates too (agent.sentences).
# 3: an answer memory of the labelled questions (agent.answer_selection.AnswerMemory).
FORMAT_VERSION = 3
DEFAULT_BASE = "bundle:e5-small"


@dataclass(frozen=True)
class ResponderTraining:
    selector_layers: int = 4  # the encoder's top layers, copied into the selector's towers
    trunk_layers: int | None = None  # frozen layers below them (None: all the others)
    max_tokens: int = 96  # longest sentence / question, in tokens
    quantize: bool = True  # int8 frozen layers: ~3x less CPU per text, training and answering
    selector_encoder: str = DEFAULT_BASE  # the selector's encoder when --base is a seq2seq model
    selector: SelectorTraining = field(default_factory=SelectorTraining)
    rewriter: RewriterTraining = field(default_factory=RewriterTraining)
    seed: int = 13
    # CPU seconds per thread for all training (the demo must serve in 15 min); 540 took 607 s
    # of wall clock on 2 cores once the demo had 560 questions per language.
    budget_s: float = 400.0
    threads: int = 2


def cmd_finetune_responder(args: Any) -> dict[str, Any]:
    train = read_responder_file(args.train, split="train")
    valid = read_responder_file(args.valid, split="valid")
    kb = _kb_for(getattr(args, "kb", None), train)
    return train_responder(
        train, valid, kb, Path(args.out), args.base or DEFAULT_BASE, settings_from_args(args)
    )


def settings_from_args(args: Any) -> ResponderTraining:
    """The defaults, changed only by the flags given."""
    settings = ResponderTraining()
    rewriter = settings.rewriter
    if getattr(args, "decoder_layers", None):
        rewriter = dataclasses.replace(rewriter, decoder_layers=args.decoder_layers)
    if getattr(args, "pretrain_pairs", None) is not None:
        rewriter = dataclasses.replace(rewriter, pretrain_pairs=args.pretrain_pairs)
    settings = dataclasses.replace(settings, rewriter=rewriter)
    if getattr(args, "budget", None):
        settings = dataclasses.replace(settings, budget_s=float(args.budget))
    if getattr(args, "seed", None) is not None:
        settings = dataclasses.replace(settings, seed=args.seed)
    return settings


def _kb_for(kb: str | None, train: Sequence[ResponderExample]) -> list[KBDocument]:
    if kb:
        return read_kb(Path(kb))
    if any(ex.article for ex in train):
        from agent.datasets import demo_kb_dir

        return read_kb(demo_kb_dir())  # the demo data names the demo's articles
    if all(ex.passages for ex in train):
        return []
    raise ParlaError(
        "responder examples without passages need a knowledge base to find their answer "
        "sentences in: pass --kb PATH"
    )


def ensure_demo_responder(home: Path | None = None, deadline: float | None = None) -> Path:
    """Train the demo responder into ``demo_dir(home)/responder`` unless it is already there.

    ``deadline`` (epoch seconds, from ``parla setup``) bounds the training besides the budget.
    """
    from agent.datasets import demo_kb_dir, demo_responder

    out = demo_dir(home) / "responder"
    train, valid, kb = demo_responder("train"), demo_responder("valid"), read_kb(demo_kb_dir())
    data = demo_fingerprint(train, valid, kb)
    if _ready(out, data):
        logger.info("demo responder is ready in %s", out)
        return out
    settings = ResponderTraining()
    train_responder(train, valid, kb, out, DEFAULT_BASE, settings, data, deadline)
    return out


def demo_fingerprint(
    train: Sequence[ResponderExample], valid: Sequence[ResponderExample], kb: Sequence[KBDocument]
) -> str:
    """What the demo responder learns from: changed demo data trains it again."""
    return fingerprint(
        train=[dataclasses.astuple(e) for e in train],
        valid=[dataclasses.astuple(e) for e in valid],
        kb=[(d.doc_id, d.text) for d in kb],
    )


def _ready(folder: Path, data_fingerprint: str) -> bool:
    """A finished responder of this format, trained on this data."""
    try:
        meta = json.loads((folder / "responder.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("format") == FORMAT_VERSION and meta.get("data") == data_fingerprint


def train_responder(
    train: Sequence[ResponderExample],
    valid: Sequence[ResponderExample],
    kb: Sequence[KBDocument],
    out: Path,
    base: str = DEFAULT_BASE,
    settings: ResponderTraining | None = None,
    data_fingerprint: str | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Train selector and rewriter into ``out``; returns the ``parla finetune`` JSON.
    ``data_fingerprint`` is recorded as ``data`` in ``responder.json``; ``deadline`` (epoch
    seconds) is when training should end, whatever is left of the budget."""
    from finetune.responder_build import build_responder

    settings = settings or ResponderTraining()
    if not train or not valid:
        raise ParlaError("responder fine-tuning needs training and validation examples")
    torch.set_num_threads(settings.threads)
    started = time.monotonic()
    checkpoints = out.with_name(f".{out.name}.checkpoints")
    with atomic_dir(out) as tmp:
        summary = build_responder(train, valid, kb, tmp, base, settings, checkpoints, deadline)
        summary["format"] = FORMAT_VERSION
        summary["data"] = data_fingerprint
        summary["seconds"] = round(time.monotonic() - started, 1)
        (tmp / "responder.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    shutil.rmtree(checkpoints, ignore_errors=True)
    logger.info("responder trained in %.0f s into %s", summary["seconds"], out)
    return {
        "out": str(out),
        "best_valid_loss": summary["best_valid_loss"],
        "epochs": summary["epochs"],
        "seconds": summary["seconds"],
        "selector_valid": summary["selector_valid"],
        "rewriter": summary["rewriter"],
    }


def resolve_base(base: str) -> Path:
    return ModelSpec(base).resolve()


__all__ = [
    "LoopConfig",
    "ResponderTraining",
    "cmd_finetune_responder",
    "ensure_demo_responder",
    "train_responder",
]
