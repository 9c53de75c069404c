"""Training the copy rewriter: self-supervised pairs from the knowledge base first (recover a
sentence from a question-like fragment of it, among distractors), then the real pairs.

The encoder is frozen, so every text's token states are computed once (``TextEncoder`` caches
them) and an epoch only runs the bridge, the shallow decoder and the copy head.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from agent.copy_generator import BOS, EOS, PAD, UNK, CopyGenerator, pad_batch
from agent.rewriter import RewriteRequest, build_memory
from agent.sentences import Sentence
from agent.text_encoder import TextEncoder
from finetune.responder_data import SelectionExample, pseudo_question
from finetune.responder_loop import LoopConfig, LoopResult, train_loop


@dataclass(frozen=True)
class RewriteExample:
    request: RewriteRequest
    target: str


@dataclass(frozen=True)
class RewriterTraining:
    decoder_layers: int = 2  # measured: see the responder note (1, 2 and 3 layers compared)
    bridge_layers: int = 0  # layers mixing the memory before decoding (0: a third faster)
    batch_size: int = 16
    max_target_tokens: int = 80
    sentences: int = 2  # sentences per input: the answer ones, then distractors
    history_rate: float = 0.2  # share of inputs given an unrelated earlier question as history
    pretrain_pairs: int = 3000  # self-supervised pairs from the knowledge base (0: none)
    pretrain: LoopConfig = field(
        default_factory=lambda: LoopConfig(epochs=1, lr=3e-4, patience=1, warmup=0.05)
    )
    finetune: LoopConfig = field(
        default_factory=lambda: LoopConfig(epochs=8, lr=1.5e-4, patience=2)
    )


def real_pairs(
    examples: Sequence[SelectionExample],
    settings: RewriterTraining,
    seed: int,
    titles: dict[str, str] | None = None,
) -> list[RewriteExample]:
    """Question + answer sentences (+ same-article distractors) -> the reference reply.

    Half of the sentences carry their document title instead of their section heading
    (``titles``: document id -> title): retrieved passages may come without headings.
    """
    rng = random.Random(seed)
    titles = titles or {}
    questions = [ex.question for ex in examples]
    out = []
    for ex in examples:
        chosen = [ex.candidates[i] for i in ex.gold][: settings.sentences]
        others = [s for i, s in enumerate(ex.candidates) if i not in ex.gold]
        rng.shuffle(others)
        chosen += others[: settings.sentences - len(chosen)]
        chosen = [
            dataclasses.replace(c, heading=titles[c.doc_id])
            if c.doc_id in titles and rng.random() < 0.5
            else c
            for c in chosen
        ]
        if len(chosen) > 1 and rng.random() < 0.15:
            chosen[0], chosen[1] = chosen[1], chosen[0]  # the selector is not always right
        history = (rng.choice(questions),) if rng.random() < settings.history_rate else ()
        request = RewriteRequest(ex.question, ex.language, ex.intent, tuple(chosen), history)
        out.append(RewriteExample(request, ex.answer))
    return out


def kb_pairs(
    pool: dict[str, list[Sentence]], limit: int, settings: RewriterTraining, seed: int
) -> list[RewriteExample]:
    """Self-supervised pairs: a shuffled fragment of a sentence + distractors -> the sentence."""
    rng = random.Random(seed)
    items = [(lang, s) for lang, sentences in pool.items() for s in sentences if len(s.text) >= 12]
    by_doc: dict[str, list[Sentence]] = {}
    for _, s in items:
        by_doc.setdefault(s.doc_id, []).append(s)
    rng.shuffle(items)
    out = []
    for lang, s in (items * 3)[:limit]:
        neighbours = [x for x in by_doc[s.doc_id] if x.text != s.text]
        rng.shuffle(neighbours)
        sentences = [s] + neighbours[: settings.sentences - 1]
        rng.shuffle(sentences)
        request = RewriteRequest(pseudo_question(s.text, rng), lang, None, tuple(sentences))
        out.append(RewriteExample(request, s.text))
    return out


def generation_vocabularies(
    encoder: TextEncoder, texts_by_language: Mapping[str, Sequence[str]], size: int
) -> dict[str, Tensor]:
    """Per language, the tokens its replies and articles use: all the generator may write
    (anything else can still be copied). Keeps one language's words out of another's replies."""
    out = {}
    for lang, texts in texts_by_language.items():
        mask = torch.zeros(size, dtype=torch.bool)
        for encoding in encoder.tokenizer.encode_batch(list(texts)):
            mask[encoding.ids] = True
        mask[[BOS, PAD, UNK]] = False
        mask[EOS] = True
        out[lang] = mask
    return out


def target_ids(encoder: TextEncoder, text: str, limit: int) -> list[int]:
    ids = encoder.tokenizer.encode(text).ids  # <s> ... </s>
    if len(ids) > limit:
        ids = ids[: limit - 1] + [EOS]
    assert ids[0] == BOS
    return ids


def pair_loss(
    model: CopyGenerator,
    encoder: TextEncoder,
    batch: Sequence[RewriteExample],
    settings: RewriterTraining,
    vocabularies: Mapping[str, Tensor] | None = None,
) -> Tensor:
    requests = [b.request for b in batch]
    memory = build_memory(model, encoder, requests, settings.sentences, vocabularies)
    targets = pad_batch([target_ids(encoder, b.target, settings.max_target_tokens) for b in batch])
    return model.loss(memory, targets)


def train_rewriter(
    model: CopyGenerator,
    encoder: TextEncoder,
    train: Sequence[RewriteExample],
    valid: Sequence[RewriteExample],
    loop: LoopConfig,
    settings: RewriterTraining,
    desc: str,
    checkpoint: Path | None = None,
    vocabularies: Mapping[str, Tensor] | None = None,
) -> LoopResult:
    """One training stage; the validation score is minus the validation loss."""

    def batches(epoch: int) -> list[list[RewriteExample]]:
        rng = random.Random(loop.seed + epoch)
        order = list(train)
        rng.shuffle(order)
        return [
            order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)
        ]

    def evaluate() -> float:
        return -validation_loss(model, encoder, valid, settings, vocabularies)

    return train_loop(
        model,
        batches,
        lambda b: pair_loss(model, encoder, b, settings, vocabularies),
        evaluate,
        loop,
        desc,
        checkpoint,
    )


@torch.no_grad()
def validation_loss(
    model: CopyGenerator,
    encoder: TextEncoder,
    valid: Sequence[RewriteExample],
    settings: RewriterTraining,
    vocabularies: Mapping[str, Tensor] | None = None,
) -> float:
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(valid), 32):
        batch = valid[i : i + 32]
        total += pair_loss(model, encoder, batch, settings, vocabularies).item() * len(batch)
        n += len(batch)
    return total / max(1, n)
