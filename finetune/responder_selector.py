"""Fine-tuning the answer selector: each training question against every knowledge-base
sentence of its language (the other sentences of its article are the hard negatives), a softmax
with every answer sentence counted as right. Only the question tower learns (see
``SelectorHead``), so an epoch costs one pass over the questions.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from agent.answer_selection import AnswerSelector, SelectorHead, question_text, sentence_text
from agent.sentences import Sentence
from agent.text import rouge_l
from finetune.responder_data import KBDocument, SelectionExample, document_sentences
from finetune.responder_loop import LoopConfig, LoopResult, train_loop


@dataclass(frozen=True)
class SelectorTraining:
    batch_size: int = 32  # questions per step
    scale: float = 20.0  # cosine -> logit (temperature 0.05)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(epochs=6, lr=1e-4, patience=2))


def build_selector_head(e5_state: dict[str, Tensor], config, first: int, layers: int):
    """A selector head warm-started from encoder layers ``first .. first + layers - 1``."""
    head = SelectorHead(
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size,
        config.layer_norm_eps,
        layers,
    )
    for offset in range(layers):
        prefix = f"encoder.layer.{first + offset}."
        head.question_layers[offset].load_bert(e5_state, prefix)
        head.sentence_layers[offset].load_bert(e5_state, prefix)
    return head


def train_selector(
    selector: AnswerSelector,
    train: Sequence[SelectionExample],
    valid: Sequence[SelectionExample],
    pool: dict[str, list[Sentence]],
    settings: SelectorTraining,
    checkpoint: Path | None = None,
) -> LoopResult:
    """Fine-tune the selector's head in place; the score is validation ROUGE-L of the top
    sentence. The selector's cache of sentence vectors stays valid: that tower is frozen."""
    head, encoder = selector.head, selector.encoder
    vectors = {
        lang: selector.vectors([sentence_text(s) for s in sentences])
        for lang, sentences in tqdm(pool.items(), desc="sentence vectors", unit="language")
    }
    positives = [_positives(ex, pool.get(ex.language, [])) for ex in train]
    usable = [i for i, p in enumerate(positives) if p]

    def batches(epoch: int) -> list[list[int]]:
        order = list(usable)
        random.Random(settings.loop.seed + epoch).shuffle(order)
        size = settings.batch_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def loss_fn(batch: list[int]) -> Tensor:
        q = head.embed_questions(encoder.encode([question_text(train[i].question) for i in batch]))
        losses = []
        for row, i in enumerate(batch):
            logits = settings.scale * vectors[train[i].language] @ q[row]
            losses.append(torch.logsumexp(logits, 0) - torch.logsumexp(logits[positives[i]], 0))
        return torch.stack(losses).mean()

    def evaluate() -> float:
        return selector_quality(selector, valid, pool)["rouge_l"]

    return train_loop(head, batches, loss_fn, evaluate, settings.loop, "selector", checkpoint)


def _positives(ex: SelectionExample, sentences: Sequence[Sentence]) -> list[int]:
    """Indices in ``sentences`` of the example's answer sentences (every heading variant)."""
    gold = {ex.candidates[i].text for i in ex.gold}
    return [i for i, s in enumerate(sentences) if s.text in gold]


def selector_quality(
    selector: AnswerSelector, examples: Sequence[SelectionExample], pool: dict[str, list[Sentence]]
) -> dict[str, float]:
    """Top-sentence accuracy and ROUGE-L when choosing among all sentences of the language."""
    hits, scores = 0, []
    for ex in examples:
        ranked = selector.rank(ex.question, pool.get(ex.language) or ex.candidates)
        top = ranked[0].sentence
        gold = {ex.candidates[i].text for i in ex.gold}
        hits += top.text in gold
        scores.append(rouge_l(top.text, ex.answer))
    n = max(1, len(examples))
    return {"accuracy": hits / n, "rouge_l": sum(scores) / n}


def sentence_pool(docs: Sequence[KBDocument]) -> dict[str, list[Sentence]]:
    """Knowledge-base sentences by language, under their section heading and under the title."""
    pool: dict[str, list[Sentence]] = defaultdict(list)
    for doc in docs:
        for s in document_sentences(doc):
            pool[doc.language].append(s)
            if s.heading != doc.title:  # retrieval may hand over chunks without their heading
                pool[doc.language].append(dataclasses.replace(s, heading=doc.title))
    return dict(pool)
