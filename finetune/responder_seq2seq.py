"""The ``seq2seq`` rewriter backend: fine-tune any ``AutoModelForSeq2SeqLM`` (t5, mt5, flan-t5,
bart, mbart) on ``seq2seq_input(request) -> reply`` pairs, for users who have such a model."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from agent.copy_generator import DecodeSettings
from agent.rewriter import SEQ2SEQ_DIR, Seq2SeqRewriter, seq2seq_input
from finetune.responder_loop import train_loop
from finetune.responder_rewriter import RewriteExample, real_pairs

logger = logging.getLogger(__name__)

MAX_INPUT_TOKENS = 384
MAX_TARGET_TOKENS = 96


def train_seq2seq(base_dir: Path, b) -> dict[str, Any]:
    """Fine-tune the seq2seq model in ``base_dir`` as the rewriter (``b``: the build context)."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    settings = b.settings
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(base_dir))
    rs = settings.rewriter
    pairs = real_pairs(b.train, rs, settings.seed, b.titles)
    valid_pairs = real_pairs(b.valid, rs, settings.seed + 1, b.titles)

    def loss_fn(batch: Sequence[RewriteExample]) -> torch.Tensor:
        return _batch(model, tokenizer, batch).loss

    def batches(epoch: int) -> list[list[RewriteExample]]:
        import random

        order = list(pairs)
        random.Random(settings.seed + epoch).shuffle(order)
        return [order[i : i + rs.batch_size] for i in range(0, len(order), rs.batch_size)]

    def evaluate() -> float:
        losses = [
            _batch(model, tokenizer, valid_pairs[i : i + 16]).loss.item()
            for i in range(0, len(valid_pairs), 16)
        ]
        return -sum(losses) / max(1, len(losses))

    loop = dataclasses.replace(
        rs.finetune,
        seed=settings.seed,
        lr=min(rs.finetune.lr, 1e-4),
        max_seconds=max(60.0, b.remaining()),
    )
    result = train_loop(
        model,
        batches,
        loss_fn,
        evaluate,
        loop,
        "seq2seq rewriter",
        b.checkpoints / "rewriter-seq2seq.pt",
    )
    model.save_pretrained(str(b.tmp / SEQ2SEQ_DIR))
    tokenizer.save_pretrained(str(b.tmp / SEQ2SEQ_DIR))
    languages = frozenset(ex.language for ex in b.train)
    rewriter = Seq2SeqRewriter(model, tokenizer, languages, DecodeSettings(), rs.sentences)
    return b.calibrate(rewriter) | {
        "rewriter": "seq2seq",
        "rewriter_sentences": rs.sentences,
        "best_valid_loss": round(-result.best_score, 4),
        "epochs": result.epochs,
        "rewriter_training": {"train_pairs": len(pairs), "history": result.history},
    }


def _batch(model, tokenizer, batch: Sequence[RewriteExample]):
    inputs = tokenizer(
        [seq2seq_input(b.request) for b in batch],
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=MAX_INPUT_TOKENS,
    )
    labels = tokenizer(
        text_target=[b.target for b in batch],
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=MAX_TARGET_TOKENS,
    ).input_ids
    labels[labels == tokenizer.pad_token_id] = -100
    return model(**inputs, labels=labels)
