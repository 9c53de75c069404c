"""Answer selection: which sentences of the retrieved passages answer the question.

A bi-encoder: the question and each candidate sentence (with its heading) go through the frozen
lower layers of the multilingual encoder (``TextEncoder``), then through a copy of the top
layers that is fine-tuned on question / answer-sentence pairs, and are mean-pooled into unit
vectors; the score is their cosine. Sentence vectors depend only on the sentence, so they are
cached: a knowledge base's sentences are encoded once per process.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agent.layers import TransformerLayer, padding_mask
from agent.sentences import Sentence
from agent.text_encoder import EncodedText, TextEncoder

logger = logging.getLogger(__name__)

QUERY_PREFIX = "query: "  # multilingual-e5's prompts
PASSAGE_PREFIX = "passage: "


def question_text(question: str) -> str:
    return QUERY_PREFIX + question.strip()


def sentence_text(sentence: Sentence) -> str:
    """The text a candidate is encoded as: its heading gives the sentence its topic."""
    if sentence.heading and sentence.heading != sentence.text:
        return f"{PASSAGE_PREFIX}{sentence.heading}: {sentence.text}"
    return PASSAGE_PREFIX + sentence.text


@dataclass(frozen=True)
class ScoredSentence:
    sentence: Sentence
    score: float
    """Cosine between question and sentence vectors (higher is better)."""


class SelectorHead(nn.Module):
    """Two towers over the frozen encoder's token states, each a copy of its top layers.

    Only the question tower is fine-tuned: sentence vectors come from the encoder's own
    layers, are computed once per sentence and cached, and training only runs the short
    questions, which fits a CPU budget of minutes (query-side fine-tuning).
    """

    def __init__(self, hidden: int, heads: int, ffn: int, eps: float, layers: int) -> None:
        super().__init__()
        self.question_layers = nn.ModuleList(
            TransformerLayer(hidden, heads, ffn, eps) for _ in range(layers)
        )
        self.sentence_layers = nn.ModuleList(
            TransformerLayer(hidden, heads, ffn, eps) for _ in range(layers)
        )
        for p in self.sentence_layers.parameters():
            p.requires_grad_(False)

    def quantize_sentence_tower(self) -> None:
        """int8 weights for the frozen tower (see ``agent.text_encoder.quantized``)."""
        from agent.text_encoder import quantized

        self._float_sentence = {
            k: v.clone() for k, v in self.state_dict().items() if k.startswith("sentence_layers.")
        }
        self.sentence_layers = quantized(self.sentence_layers)

    def float_state_dict(self) -> dict[str, Tensor]:
        """The weights to save: float ones, even when the sentence tower runs in int8."""
        saved = getattr(self, "_float_sentence", {})
        state = {
            k: v
            for k, v in self.state_dict().items()
            if not (saved and k.startswith("sentence_layers."))
        }
        return state | saved

    def embed_questions(self, encoded: Sequence[EncodedText]) -> Tensor:
        return F.normalize(_pool(self.question_layers, *pad_states(encoded)), dim=-1)

    def embed_sentences(self, encoded: Sequence[EncodedText]) -> Tensor:
        """Unit sentence vectors: fixed (the tower is frozen), so they can be cached."""
        with torch.no_grad():
            return F.normalize(_pool(self.sentence_layers, *pad_states(encoded)), dim=-1)


def _pool(layers: nn.ModuleList, states: Tensor, lengths: Tensor) -> Tensor:
    mask = padding_mask(lengths, states.shape[1])
    for layer in layers:
        states, _ = layer(states, mask)
    keep = mask[:, 0, 0, :, None].to(states.dtype)
    return (states * keep).sum(1) / keep.sum(1)


def pad_states(encoded: Sequence[EncodedText]) -> tuple[Tensor, Tensor]:
    """(batch, longest, hidden) states and (batch,) lengths."""
    lengths = torch.tensor([len(e.ids) for e in encoded])
    out = torch.zeros(len(encoded), int(lengths.max()), encoded[0].states.shape[-1])
    for row, e in enumerate(encoded):
        out[row, : len(e.ids)] = e.states.float()
    return out, lengths


class AnswerSelector:
    """Ranks candidate sentences for a question."""

    def __init__(self, encoder: TextEncoder, head: SelectorHead, cache_size: int = 50_000) -> None:
        self.encoder = encoder
        self.head = head.eval()
        self.cache_size = cache_size
        self._vectors: OrderedDict[str, Tensor] = OrderedDict()

    @torch.inference_mode()
    def rank(self, question: str, sentences: Sequence[Sentence]) -> list[ScoredSentence]:
        """``sentences`` best first."""
        if not sentences:
            return []
        q = self.head.embed_questions(self.encoder.encode([question_text(question)]))[0]
        s = self.vectors([sentence_text(x) for x in sentences])
        scores = (s @ q).tolist()
        ranked = sorted(zip(sentences, scores, strict=True), key=lambda p: -p[1])
        return [ScoredSentence(sentence, score) for sentence, score in ranked]

    def vectors(self, texts: Sequence[str]) -> Tensor:
        """Sentence vectors, from the cache when seen before."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        for start in range(0, len(missing), 64):
            batch = missing[start : start + 64]
            vectors = self.head.embed_sentences(self.encoder.encode(batch))
            self._vectors.update(zip(batch, vectors, strict=True))
        out = torch.stack([self._vectors[t] for t in texts])
        for text in texts:
            self._vectors.move_to_end(text)
        while len(self._vectors) > self.cache_size:
            self._vectors.popitem(last=False)
        return out
