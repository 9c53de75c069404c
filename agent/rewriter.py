"""The rewriter: selected sentences + question -> a short reply, by a fine-tuned seq2seq model.

Two backends, chosen by name in the responder folder's ``responder.json``:

- ``copy``: the offline default, an encoder-decoder warm-started from the bundled
  multilingual-e5 with a copy head (``agent.copy_generator``);
- ``seq2seq``: any ``AutoModelForSeq2SeqLM`` (t5, mt5, flan-t5, bart, mbart) fine-tuned by
  ``parla finetune responder --base <id or path>``, for users who have one.

Either way the reply is checked by the groundedness guard before anyone sees it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from agent.answer_selection import question_text, sentence_text
from agent.copy_generator import (
    PAD,
    CopyGenerator,
    DecodeSettings,
    GeneratorShape,
    Memory,
    generate,
)
from agent.sentences import Sentence
from agent.text_encoder import TextEncoder

logger = logging.getLogger(__name__)

HISTORY_TOKENS = 48  # the history segment is cut to this many tokens
_CJK = r"[\u3400-\u4dbf\u4e00-\u9fff]"
_HALF_TO_FULL = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；", "(": "（", ")": "）"}


@dataclass(frozen=True)
class RewriteRequest:
    question: str
    language: str
    intent: str | None
    sentences: tuple[Sentence, ...]
    """The selected sentences, best first."""
    history: tuple[str, ...] = ()
    """Earlier user turns of the session, oldest first."""


@dataclass(frozen=True)
class Rewrite:
    text: str
    confidence: float
    """Mean log-probability per token of ``text`` under the model (0 is certain)."""


class Rewriter(Protocol):
    languages: frozenset[str]
    """Languages it was trained on; others are answered extractively."""

    def rewrite(self, request: RewriteRequest) -> Rewrite: ...


def intent_text(intent: str | None) -> str:
    return "intent: " + (intent or "none").replace("_", " ")


def history_text(history: Sequence[str]) -> str:
    return "history: " + " | ".join(h.strip() for h in history)


def memory_segments(request: RewriteRequest, max_sentences: int) -> list[tuple[int, str]]:
    """(segment id, text) pairs the copy rewriter reads, in order."""
    segments = [(0, question_text(request.question)), (1, intent_text(request.intent))]
    if request.history:
        segments.append((2, history_text(request.history)))
    for i, sentence in enumerate(request.sentences[:max_sentences]):
        segments.append((3 + i, sentence_text(sentence)))
    return segments


def build_memory(
    model: CopyGenerator,
    encoder: TextEncoder,
    requests: Sequence[RewriteRequest],
    max_sentences: int,
    vocabularies: Mapping[str, torch.Tensor] | None = None,
) -> Memory:
    """Encode (with the cache) and concatenate each request's segments, then run the bridge.

    Only the sentences are copied from: facts come from the passages, and the prompt words
    (``passage:`` ...) never. ``vocabularies``: per language, the tokens the generator may
    write (a boolean mask over the vocabulary).
    """
    rows = [memory_segments(r, max_sentences) for r in requests]
    encoded = iter(encoder.encode([text for row in rows for _, text in row]))
    states, segments, ids, prompts = [], [], [], []
    for row in rows:
        parts = []
        for segment, text in row:
            part = next(encoded)
            parts.append((segment, _cut(part, HISTORY_TOKENS) if segment == 2 else part, text))
        states.append(torch.cat([p.states.float() for _, p, _ in parts]))
        ids.append(torch.cat([p.ids for _, p, _ in parts]))
        segments.append(torch.cat([torch.full((len(p.ids),), s) for s, p, _ in parts]))
        prompts.append(torch.cat([_blocked(encoder, seg, t, len(p.ids)) for seg, p, t in parts]))
    pad = torch.nn.utils.rnn.pad_sequence
    memory = model.memory(
        pad(states, batch_first=True),
        pad(segments, batch_first=True),
        torch.tensor([len(i) for i in ids]),
        pad(ids, batch_first=True, padding_value=PAD),
    )
    blocked = pad(prompts, batch_first=True)
    allowed = None
    if vocabularies:
        full = torch.ones(model.shape.vocab, dtype=torch.bool)
        allowed = torch.stack([vocabularies.get(r.language, full) for r in requests])
    return dataclasses.replace(memory, copyable=memory.copyable & ~blocked, allowed=allowed)


PROMPTS = ("query: ", "passage: ", "intent: ", "history: ")
_prompt_tokens: dict[tuple[int, str], int] = {}


def _blocked(encoder: TextEncoder, segment: int, text: str, length: int) -> torch.Tensor:
    """True on tokens never copied: all of question, intent and history; a prompt."""
    mask = torch.full((length,), segment < 3, dtype=torch.bool)
    for prompt in PROMPTS:
        if text.startswith(prompt):
            key = (id(encoder.tokenizer), prompt)
            if key not in _prompt_tokens:
                pieces = encoder.tokenizer.encode(prompt, add_special_tokens=False).ids
                _prompt_tokens[key] = len(pieces)
            mask[: 1 + _prompt_tokens[key]] = True
    return mask


def _cut(encoded, limit: int):
    if len(encoded.ids) <= limit:
        return encoded
    return type(encoded)(encoded.ids[:limit], encoded.states[:limit])


def finish_text(text: str, language: str) -> str:
    """Tidy a decoded reply: spacing, Chinese punctuation (NFKC made it half-width), capital."""
    text = re.sub(r"\s+", " ", text).strip().lstrip(",.;:!?，。；：、 ")
    if language in ("zh", "ja"):
        text = re.sub(
            rf"(?<={_CJK})\s*([,?!:;])\s*|\s*([,?!:;])\s*(?={_CJK})",
            lambda m: _HALF_TO_FULL[m.group(1) or m.group(2)],
            text,
        )
    elif text[:1].islower():
        text = text[0].upper() + text[1:]
    return text


class CopyRewriter:
    """The offline default backend."""

    def __init__(
        self,
        model: CopyGenerator,
        encoder: TextEncoder,
        languages: frozenset[str],
        settings: DecodeSettings,
        max_sentences: int = 2,
        vocabularies: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        self.model = model.eval()
        self.encoder = encoder
        self.languages = languages
        self.settings = settings
        self.max_sentences = max_sentences
        self.vocabularies = vocabularies or {}

    @torch.inference_mode()
    def rewrite(self, request: RewriteRequest) -> Rewrite:
        memory = build_memory(
            self.model, self.encoder, [request], self.max_sentences, self.vocabularies
        )
        ids, score = generate(self.model, memory, self.settings)
        return Rewrite(finish_text(self.encoder.tokenizer.decode(ids), request.language), score)


def seq2seq_input(request: RewriteRequest, max_sentences: int = 3) -> str:
    """The plain-text input of the ``seq2seq`` backend."""
    parts = [f"question: {request.question.strip()}", intent_text(request.intent)]
    if request.history:
        parts.append(history_text(request.history))
    parts += [f"context: {s.heading}: {s.text}" for s in request.sentences[:max_sentences]]
    return " \n".join(parts)


class Seq2SeqRewriter:
    """Any ``AutoModelForSeq2SeqLM`` fine-tuned on ``seq2seq_input`` -> reply."""

    def __init__(
        self,
        model,
        tokenizer,
        languages: frozenset[str],
        settings: DecodeSettings,
        max_sentences: int = 3,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.languages = languages
        self.settings = settings
        self.max_sentences = max_sentences

    @torch.inference_mode()
    def rewrite(self, request: RewriteRequest) -> Rewrite:
        inputs = self.tokenizer(
            seq2seq_input(request, self.max_sentences),
            return_tensors="pt",
            truncation=True,
            max_length=512,
        )
        output = self.model.generate(
            **inputs,
            num_beams=self.settings.num_beams,
            max_new_tokens=self.settings.max_new_tokens,
            min_new_tokens=self.settings.min_new_tokens,
            no_repeat_ngram_size=self.settings.no_repeat_ngram,
            output_scores=True,
            return_dict_in_generate=True,
        )
        steps = self.model.compute_transition_scores(
            output.sequences, output.scores, output.get("beam_indices"), normalize_logits=True
        )
        confidence = float(steps[0][torch.isfinite(steps[0])].mean()) if steps.numel() else 0.0
        text = self.tokenizer.decode(output.sequences[0], skip_special_tokens=True)
        return Rewrite(finish_text(text, request.language), confidence)


# --- loading -----------------------------------------------------------------------------------

COPY_WEIGHTS = "rewriter.safetensors"
VOCABULARIES = "generation_vocab.safetensors"  # per language: the tokens the generator writes
SEQ2SEQ_DIR = "rewriter-seq2seq"


def _load_copy(
    folder: Path, meta: dict, encoder: TextEncoder, settings: DecodeSettings
) -> Rewriter:
    from safetensors.torch import load_file

    model = CopyGenerator(GeneratorShape(**meta["generator"]))
    model.load_state_dict(load_file(str(folder / COPY_WEIGHTS)))
    vocabularies = {}
    if (folder / VOCABULARIES).exists():
        vocabularies = {k: v.bool() for k, v in load_file(str(folder / VOCABULARIES)).items()}
    return CopyRewriter(
        model,
        encoder,
        frozenset(meta["languages"]),
        settings,
        meta.get("rewriter_sentences", 2),
        vocabularies,
    )


def _load_seq2seq(
    folder: Path, meta: dict, encoder: TextEncoder, settings: DecodeSettings
) -> Rewriter:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    path = str(folder / SEQ2SEQ_DIR)
    model = AutoModelForSeq2SeqLM.from_pretrained(path)
    return Seq2SeqRewriter(
        model,
        AutoTokenizer.from_pretrained(path),
        frozenset(meta["languages"]),
        settings,
        meta.get("rewriter_sentences", 3),
    )


REWRITERS: dict[str, Callable[[Path, dict, TextEncoder, DecodeSettings], Rewriter]] = {
    "copy": _load_copy,
    "seq2seq": _load_seq2seq,
}


def load_rewriter(folder: Path, encoder: TextEncoder, settings: DecodeSettings) -> Rewriter | None:
    """The rewriter saved in a responder folder, or None when it was trained without one."""
    meta = json.loads((folder / "responder.json").read_text())
    backend = meta.get("rewriter")
    if backend is None:
        return None
    if backend not in REWRITERS:
        from agent.errors import ParlaError

        raise ParlaError(
            f"{folder}: unknown rewriter backend {backend!r}; known: {sorted(REWRITERS)}"
        )
    return REWRITERS[backend](folder, meta, encoder, settings)
