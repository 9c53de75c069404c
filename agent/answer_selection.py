"""Answer selection: which sentences of the retrieved passages answer the question.

A bi-encoder: the question and each candidate sentence (with its heading) go through the frozen
lower layers of the multilingual encoder (``TextEncoder``), then through a copy of the top
layers that is fine-tuned on question / answer-sentence pairs, and are mean-pooled into unit
vectors; the score is their cosine. Sentence vectors depend only on the sentence, so they are
cached: a knowledge base's sentences are encoded once per process.

An answer memory adds what the labelled questions taught directly: the training questions
nearest to the new one (in the question tower's space) vote for the sentences that answered
them. Many customers ask about the same facts in other words, and a vote names the exact
sentence where the bi-encoder only finds the topic (Khandelwal et al., ICLR 2020, do the same
for language modelling: a k-nearest-neighbour memory beside a trained model).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agent.errors import ParlaError
from agent.layers import TransformerLayer, padding_mask
from agent.lru import LruCache
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


MEMORY_FILE, MEMORY_ANSWERS = "memory.safetensors", "memory.json"


@dataclass(frozen=True)
class MemorySettings:
    """How the memory votes (defaults: ``ResponderConfig.memory_*``)."""

    weight: float
    neighbours: int
    temperature: float


@dataclass(frozen=True)
class AnswerMemory:
    """Labelled questions' vectors (question tower) and the sentences that answered each."""

    vectors: Tensor
    """(questions, hidden) unit vectors."""
    answers: tuple[tuple[str, ...], ...]
    """Each question's answer sentences (their text)."""
    settings: MemorySettings

    def votes(self, question: Tensor) -> dict[str, float]:
        """Sentence text -> share of the vote of the question's nearest labelled questions."""
        if not len(self.answers) or not self.settings.weight:
            return {}
        nearest = (self.vectors @ question).topk(min(self.settings.neighbours, len(self.answers)))
        weights = torch.softmax(nearest.values / self.settings.temperature, 0)
        out: dict[str, float] = {}
        for weight, row in zip(weights.tolist(), nearest.indices.tolist(), strict=True):
            for text in self.answers[row]:
                out[text] = out.get(text, 0.0) + weight
        return out

    def boost(self, question: Tensor, sentences: Sequence[Sentence]) -> list[float]:
        """What the vote adds to each sentence's score."""
        votes = self.votes(question)
        return [self.settings.weight * votes.get(s.text, 0.0) for s in sentences]

    def extended(self, other: AnswerMemory) -> AnswerMemory:
        """This memory's questions, then ``other``'s (with this memory's settings)."""
        vectors = torch.cat([self.vectors, other.vectors])
        return AnswerMemory(vectors, self.answers + other.answers, self.settings)


def build_memory(
    selector: AnswerSelector,
    questions: Sequence[str],
    answers: Sequence[Sequence[str]],
    settings: MemorySettings,
) -> AnswerMemory:
    """A memory of ``questions`` (at least one), each answered by its ``answers``."""
    chunks = range(0, len(questions), 64)
    vectors = torch.cat([selector.embed_questions(questions[i : i + 64]) for i in chunks])
    return AnswerMemory(vectors, tuple(tuple(a) for a in answers), settings)


def save_memory(memory: AnswerMemory, folder: Path) -> None:
    from safetensors.torch import save_file

    save_file({"vectors": memory.vectors.contiguous()}, str(folder / MEMORY_FILE))
    answers = json.dumps([list(a) for a in memory.answers], ensure_ascii=False)
    (folder / MEMORY_ANSWERS).write_text(answers, encoding="utf-8")


def load_memory(folder: Path, settings: MemorySettings) -> AnswerMemory | None:
    """The memory saved in ``folder``; None for a responder trained without one."""
    from safetensors.torch import load_file

    if not (folder / MEMORY_FILE).exists():
        return None
    vectors = load_file(str(folder / MEMORY_FILE))["vectors"]
    answers = json.loads((folder / MEMORY_ANSWERS).read_text(encoding="utf-8"))
    if len(answers) != len(vectors):
        raise ParlaError(
            f"{folder}: the memory has {len(vectors)} questions, {len(answers)} answers"
        )
    return AnswerMemory(vectors, tuple(tuple(a) for a in answers), settings)


class AnswerSelector:
    """Ranks candidate sentences for a question."""

    def __init__(
        self,
        encoder: TextEncoder,
        head: SelectorHead,
        cache_size: int = 50_000,
        memory: AnswerMemory | None = None,
    ) -> None:
        self.encoder = encoder
        self.head = head.eval()
        self.memory = memory
        self._vectors: LruCache[Tensor] = LruCache(cache_size)

    @torch.inference_mode()
    def embed_questions(self, questions: Sequence[str]) -> Tensor:
        """Unit vectors of the question tower."""
        return self.head.embed_questions(self.encoder.encode([question_text(q) for q in questions]))

    @torch.inference_mode()
    def rank(self, question: str, sentences: Sequence[Sentence]) -> list[ScoredSentence]:
        """``sentences`` best first: cosine, plus the memory's vote when there is one."""
        if not sentences:
            return []
        q = self.embed_questions([question])[0]
        s = self.vectors([sentence_text(x) for x in sentences])
        scores = (s @ q).tolist()
        if self.memory is not None:
            scores = [a + b for a, b in zip(scores, self.memory.boost(q, sentences), strict=True)]
        ranked = sorted(zip(sentences, scores, strict=True), key=lambda p: -p[1])
        return [ScoredSentence(sentence, score) for sentence, score in ranked]

    def vectors(self, texts: Sequence[str]) -> Tensor:
        """Sentence vectors, from the cache when seen before."""
        return torch.stack(self._vectors.values(texts, self._embed_sentences, 64))

    def _embed_sentences(self, texts: list[str]) -> list[Tensor]:
        return list(self.head.embed_sentences(self.encoder.encode(texts)))
