"""The steps of ``train_responder``, each writing its part of the responder folder."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm import tqdm

from agent.answer_selection import AnswerSelector, question_text, save_memory, sentence_text
from agent.copy_generator import CopyGenerator, DecodeSettings, GeneratorShape
from agent.datasets import ResponderExample
from agent.errors import ParlaError
from agent.grounding import GroundednessGuard, common_words
from agent.models import ModelSpec
from agent.rewriter import COPY_WEIGHTS, VOCABULARIES, CopyRewriter, Rewriter
from agent.sentences import Sentence
from agent.text_encoder import TextEncoder, quantized, trim_encoder
from agent.vocab import build_trimmed_tokenizer
from finetune.responder_calibration import calibrate
from finetune.responder_data import KBDocument, SelectionExample, selection_examples
from finetune.responder_loop import work_clock
from finetune.responder_memory import answer_memory
from finetune.responder_rewriter import (
    generation_vocabularies,
    kb_pairs,
    real_pairs,
    train_rewriter,
    validation_loss,
)
from finetune.responder_selector import (
    build_selector_head,
    selector_quality,
    sentence_pool,
    train_selector,
)

logger = logging.getLogger(__name__)

CALIBRATION_SHARE = 0.1  # of the budget, kept for answering the validation questions
SELECTOR_SHARE = 0.3  # of the budget, at most, for the answer selector (its replies are served)
# Under a deadline (parla setup on a slow machine) the rewriter gives way first: its
# pre-training gets only what fine-tuning (at least FINETUNE_MIN_S) and calibration leave, and
# an uncalibrated rewriter stays off. The selector keeps at least SELECTOR_MIN_S (an epoch).
FINETUNE_MIN_S = 60.0
SELECTOR_MIN_S = 40.0


@dataclass
class _Build:
    """What the steps share."""

    encoder: TextEncoder
    state: dict[str, Tensor]  # the warm-start encoder's weights (full vocabulary)
    config: Any  # its BertConfig
    train: list[SelectionExample]
    valid: list[SelectionExample]
    pool: dict[str, list[Sentence]]  # knowledge-base sentences by language
    titles: dict[str, str]  # document id -> title
    tmp: Path  # the folder being written
    settings: Any  # ResponderTraining
    checkpoints: Path
    started: float  # work_clock() at the start
    guard: GroundednessGuard
    selector: AnswerSelector | None = None  # once trained
    deadline: float | None = None  # epoch seconds by which training should end
    wall_started: float = dataclasses.field(default_factory=time.time)

    def remaining(self) -> float:
        """Work seconds left: the budget's, or fewer where the deadline comes first.

        The deadline is wall-clock time; it becomes work seconds at the pace (work per wall
        second) this build has kept so far.
        """
        used = work_clock() - self.started
        left = self.settings.budget_s - used
        if self.deadline is None:
            return left
        wall = time.time() - self.wall_started
        pace = min(1.0, used / wall) if wall > 1.0 else 1.0
        return min(left, (self.deadline - time.time()) * pace)

    def calibration_reserve(self) -> float:
        """Work seconds kept for answering the validation questions at the end."""
        return CALIBRATION_SHARE * self.settings.budget_s

    def calibrate(self, rewriter: Rewriter) -> dict[str, Any]:
        """The rewriter's threshold on validation; past the deadline, the rewriter is off."""
        assert self.selector is not None
        if self.deadline is None or self.remaining() >= 0.5 * self.calibration_reserve():
            return calibrate(self.selector, rewriter, self.guard, self.valid)
        logger.warning("no time left to calibrate the rewriter on validation: it stays off")
        return {"rewriter_min_confidence": None, "calibration": "skipped: out of time"}


def build_responder(
    train: Sequence[ResponderExample],
    valid: Sequence[ResponderExample],
    kb: Sequence[KBDocument],
    tmp: Path,
    base: str,
    settings,
    checkpoints: Path,
    deadline: float | None = None,
) -> dict[str, Any]:
    started, wall_started = work_clock(), time.time()
    languages = sorted({ex.lang for ex in train})
    base_dir = ModelSpec(base).resolve()
    seq2seq = _is_seq2seq(base_dir)
    encoder_dir = ModelSpec(settings.selector_encoder).resolve() if seq2seq else base_dir
    kb = [d for d in kb if d.language in languages]
    sel_train, sel_valid = selection_examples(train, kb), selection_examples(valid, kb)
    if not sel_train or not sel_valid:
        raise ParlaError("no training or validation example overlaps a knowledge-base sentence")
    pool = sentence_pool(kb) if kb else _pool_from(sel_train + sel_valid)
    encoder, state, config = _trunk(encoder_dir, train, valid, kb, languages, tmp, settings)
    common = _write_common_words(tmp, kb, train)
    b = _Build(
        encoder,
        state,
        config,
        sel_train,
        sel_valid,
        pool,
        {d.doc_id: d.title for d in kb},
        tmp,
        settings,
        checkpoints,
        started,
        GroundednessGuard(common),
        deadline=deadline,
        wall_started=wall_started,
    )
    _pre_encode(encoder, sel_train + sel_valid, pool)
    summary: dict[str, Any] = {
        "languages": languages,
        "base": base,
        "max_tokens": settings.max_tokens,
        "quantized": settings.quantize,
    }
    timings = {"prepare": round(work_clock() - started, 1)}
    summary.update(_selector(b))
    assert b.selector is not None
    trained = answer_memory(b.selector, b.train, kb)
    b.selector.memory = trained  # the rewriter is calibrated with the training questions' memory
    summary["selector_valid_with_memory"] = _rounded(selector_quality(b.selector, b.valid, b.pool))
    timings["selector"] = round(work_clock() - started - sum(timings.values()), 1)
    if seq2seq:
        from finetune.responder_seq2seq import train_seq2seq

        summary.update(train_seq2seq(base_dir, b))
    else:
        summary.update(_rewriter(b))
    timings["rewriter"] = round(work_clock() - started - sum(timings.values()), 1)
    served = trained.extended(answer_memory(b.selector, b.valid, kb))  # every labelled question
    save_memory(served, tmp)
    summary["memory_questions"] = len(b.train) + len(b.valid)
    summary["work_s"] = timings  # CPU seconds / threads: wall-clock seconds on a free machine
    return summary


def _is_seq2seq(folder: Path) -> bool:
    from transformers import AutoConfig

    try:
        return bool(AutoConfig.from_pretrained(str(folder)).is_encoder_decoder)
    except (OSError, ValueError) as exc:
        raise ParlaError(f"{folder} is not a transformers model folder ({exc})") from None


def _pool_from(examples: Sequence[SelectionExample]) -> dict[str, list[Sentence]]:
    pool: dict[str, dict[str, Sentence]] = defaultdict(dict)
    for ex in examples:
        for s in ex.candidates:
            pool[ex.language].setdefault(s.text, s)
    return {lang: list(v.values()) for lang, v in pool.items()}


def _trunk(encoder_dir, train, valid, kb, languages, tmp, settings):
    """Trimmed tokenizer + frozen truncated encoder, saved into ``tmp``."""
    from tokenizers import Tokenizer
    from transformers import BertModel

    texts = [d.text for d in kb] + [f"{e.question}\n{e.answer}" for e in [*train, *valid]]
    texts += [p for e in train for p in e.passages]
    keep = build_trimmed_tokenizer(encoder_dir, texts, languages, tmp)
    try:
        model = BertModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
    except (OSError, ValueError) as exc:
        raise ParlaError(f"{encoder_dir} is not a BERT-style encoder ({exc})") from None
    state = {k: v.clone() for k, v in model.state_dict().items()}
    config = copy.deepcopy(model.config)  # trimming below edits the model's own config
    trunk_layers, _ = layer_split(settings, model.config.num_hidden_layers)
    trunk = trim_encoder(model, keep, trunk_layers)
    trunk.save_pretrained(str(tmp / "encoder"))
    tokenizer = Tokenizer.from_file(str(tmp / "tokenizer.json"))
    frozen = quantized(trunk) if settings.quantize else trunk
    encoder = TextEncoder(frozen, tokenizer, settings.max_tokens, cache_size=10**7)
    return encoder, state, config


def layer_split(settings, depth: int) -> tuple[int, int]:
    """(frozen trunk layers, selector layers) for an encoder of ``depth`` layers.

    A shallow encoder (a 6-layer MiniLM) keeps at least two thirds of its layers in the trunk.
    """
    selector = max(1, min(settings.selector_layers, depth // 3))
    trunk = settings.trunk_layers if settings.trunk_layers is not None else depth - selector
    if trunk < 1 or trunk + selector > depth:
        raise ParlaError(
            f"the encoder has {depth} layers: too few for {selector} selector layers above a "
            f"trunk of {trunk}"
        )
    return trunk, selector


def _pre_encode(encoder: TextEncoder, examples, pool) -> None:
    texts = [question_text(ex.question) for ex in examples]
    texts += [sentence_text(s) for ex in examples for s in ex.candidates]
    texts += [sentence_text(s) for sentences in pool.values() for s in sentences]
    texts = list(dict.fromkeys(texts))
    for i in tqdm(range(0, len(texts), 256), desc="encoding texts", unit="x256"):
        encoder.encode(texts[i : i + 256])


def _selector(b: _Build) -> dict[str, Any]:
    settings = b.settings
    first, layers = layer_split(settings, b.config.num_hidden_layers)
    head = build_selector_head(b.state, b.config, first, layers)
    if settings.quantize:
        head.quantize_sentence_tower()
    selector = AnswerSelector(b.encoder, head, cache_size=10**7)
    before = selector_quality(selector, b.valid, b.pool)
    done = b.checkpoints / "selector.safetensors"
    epochs = 0
    if done.exists():
        _load_trained(head, load_file(str(done)))
    else:
        loop = dataclasses.replace(
            settings.selector.loop,
            seed=settings.seed,
            max_seconds=min(
                SELECTOR_SHARE * settings.budget_s, max(SELECTOR_MIN_S, 0.5 * b.remaining())
            ),
        )
        result = train_selector(
            selector,
            b.train,
            b.valid,
            b.pool,
            dataclasses.replace(settings.selector, loop=loop),
            b.checkpoints / "selector.pt",
        )
        epochs = result.epochs
        b.checkpoints.mkdir(parents=True, exist_ok=True)
        save_file(head.float_state_dict(), str(done))
    save_file(head.float_state_dict(), str(b.tmp / "selector.safetensors"))
    after = selector_quality(selector, b.valid, b.pool)
    b.selector = selector
    logger.info("selector valid: zero-shot %s, fine-tuned %s", before, after)
    shape = dict(
        hidden=b.config.hidden_size,
        heads=b.config.num_attention_heads,
        ffn=b.config.intermediate_size,
        eps=b.config.layer_norm_eps,
        layers=layers,
    )
    return {
        "selector": shape,
        "selector_valid": _rounded(after),
        "selector_valid_zero_shot": _rounded(before),
        "selector_epochs": epochs,
    }


def _load_trained(head, saved: dict[str, Tensor]) -> None:
    """Resume: the trained question tower and map (the sentence tower never changes)."""
    own = head.state_dict()
    own.update({k: v for k, v in saved.items() if not k.startswith("sentence_layers.")})
    head.load_state_dict(own)


def _rewriter(b: _Build) -> dict[str, Any]:
    rs, seed = b.settings.rewriter, b.settings.seed
    shape = GeneratorShape(
        vocab=b.encoder.model.get_input_embeddings().weight.shape[0],
        hidden=b.config.hidden_size,
        heads=b.config.num_attention_heads,
        ffn=b.config.intermediate_size,
        eps=b.config.layer_norm_eps,
        decoder_layers=rs.decoder_layers,
        bridge_layers=rs.bridge_layers,
        max_positions=min(128, b.config.max_position_embeddings),
    )
    model = CopyGenerator(shape)
    model.word.weight.data.copy_(b.encoder.model.get_input_embeddings().weight.data)
    model.load_e5(b.state, bridge_from=layer_split(b.settings, b.config.num_hidden_layers)[0])
    # the (tied) word embeddings stay e5's: a few thousand pairs cannot improve 16k rows, and
    # their gradient and optimiser state were most of a training step's time
    model.word.weight.requires_grad_(False)
    vocabularies = _vocabularies(b, shape.vocab)
    save_file({k: v.to(torch.uint8) for k, v in vocabularies.items()}, str(b.tmp / VOCABULARIES))
    real_train = real_pairs(b.train, rs, seed, b.titles)
    real_valid = real_pairs(b.valid, rs, seed + 1, b.titles)
    report: dict[str, Any] = {"pretrain_pairs": 0, "train_pairs": len(real_train)}
    calibration = b.calibration_reserve()
    budget = min(0.3 * b.settings.budget_s, 0.5 * b.remaining())
    if b.deadline is not None:  # fine-tuning and calibration first
        budget = min(budget, b.remaining() - FINETUNE_MIN_S - calibration)
    if rs.pretrain_pairs and budget > 0:
        pairs = kb_pairs(b.pool, rs.pretrain_pairs, rs, seed)
        _stage(b, model, pairs, real_valid, rs.pretrain, "pretrain", budget, vocabularies)
        report["pretrain_pairs"] = len(pairs)
        report["valid_loss_after_pretrain"] = round(
            validation_loss(model, b.encoder, real_valid, rs, vocabularies), 4
        )
    elif rs.pretrain_pairs:
        logger.warning("rewriter pre-training skipped: %.0f s of work left", b.remaining())
    budget = max(FINETUNE_MIN_S, b.remaining() - calibration)
    epochs = _stage(b, model, real_train, real_valid, rs.finetune, "finetune", budget, vocabularies)
    loss = validation_loss(model, b.encoder, real_valid, rs, vocabularies)
    save_file(model.state_dict(), str(b.tmp / COPY_WEIGHTS))
    rewriter = CopyRewriter(
        model, b.encoder, frozenset(vocabularies), DecodeSettings(), rs.sentences, vocabularies
    )
    return b.calibrate(rewriter) | {
        "rewriter": "copy",
        "generator": dataclasses.asdict(shape),
        "rewriter_sentences": rs.sentences,
        "best_valid_loss": round(loss, 4),
        "epochs": epochs,
        "rewriter_training": report,
    }


def _vocabularies(b: _Build, size: int) -> dict[str, Tensor]:
    texts: dict[str, list[str]] = defaultdict(list)
    for ex in b.train:
        texts[ex.language] += [ex.answer, ex.question]
    for lang, sentences in b.pool.items():
        texts[lang] += [f"{s.heading}: {s.text}" for s in sentences]
    return generation_vocabularies(b.encoder, texts, size)


def _stage(b: _Build, model, pairs, valid, loop, name: str, budget: float, vocabularies) -> int:
    """One rewriter training stage (skipped when a finished one is in the checkpoints)."""
    done = b.checkpoints / f"rewriter-{name}.safetensors"
    if done.exists():
        model.load_state_dict(load_file(str(done)))
        return 0
    _pre_encode_requests(b.encoder, pairs)
    loop = dataclasses.replace(loop, seed=b.settings.seed, max_seconds=budget)
    result = train_rewriter(
        model,
        b.encoder,
        pairs,
        valid,
        loop,
        b.settings.rewriter,
        name,
        b.checkpoints / f"rewriter-{name}.pt",
        vocabularies,
    )
    b.checkpoints.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(done))
    return result.epochs


def _pre_encode_requests(encoder: TextEncoder, pairs) -> None:
    from agent.rewriter import memory_segments

    texts = list(dict.fromkeys(t for p in pairs for _, t in memory_segments(p.request, 8)))
    for i in tqdm(range(0, len(texts), 256), desc="encoding inputs", unit="x256"):
        encoder.encode(texts[i : i + 256])


def _write_common_words(tmp: Path, kb, train) -> dict[str, list[str]]:
    import json

    by_language: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for d in kb:
        by_language[d.language][d.article].append(d.text)
    for ex in train:
        by_language[ex.lang][ex.article or ex.question].append(ex.answer)
    common = {lang: common_words(articles) for lang, articles in by_language.items()}
    (tmp / "common_words.json").write_text(json.dumps(common, ensure_ascii=False))
    return common


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in d.items()}
