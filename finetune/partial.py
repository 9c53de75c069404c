"""Train only the top layers of an encoder, from hidden states the bottom layers computed once.

On a CPU the backward pass costs about twice the forward one, and every epoch pays both for
every layer. When only the top ``k`` of ``n`` layers train, the bottom ``n - k`` layers give
the same output in every epoch (dropout aside), so they run once per example, without
gradients, and each epoch then costs ``k/n`` of a full one. The top layers are the encoder's
own modules (shared, not copied): training them updates the full model in place, and the
saved folder is the whole encoder as usual.

Works with BERT-like encoders (``.embeddings`` and ``.encoder.layer``: BERT, XLM-R, e5);
:func:`can_split` says whether a model qualifies.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

logger = logging.getLogger(__name__)

CACHE_BATCH = 64  # texts per no-grad forward pass while caching


def can_split(encoder: Any) -> bool:
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    return isinstance(layers, nn.ModuleList) and hasattr(encoder, "embeddings")


class _PassThrough(nn.Module):
    """Stands in for the embeddings: the cached hidden states are the input."""

    def forward(self, inputs_embeds: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        assert inputs_embeds is not None
        return inputs_embeds


class TopLayers(nn.Module):
    """The top ``k`` layers of ``encoder`` as a model that starts from hidden states."""

    def __init__(self, encoder: Any, k: int) -> None:
        super().__init__()
        config = copy.deepcopy(encoder.config)
        config.num_hidden_layers = k
        # Its embedding matrix is never used: allocate the fewest rows the config allows.
        config.vocab_size = int(getattr(config, "pad_token_id", None) or 0) + 1
        top = type(encoder)(config, add_pooling_layer=False)
        top.embeddings = _PassThrough()
        top.encoder.layer = nn.ModuleList(list(encoder.encoder.layer)[-k:])  # shared modules
        self.model = top

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=hidden, attention_mask=attention_mask).last_hidden_state


class TopNetwork(nn.Module):
    """Top layers + the intent network's mean pooling, dropout and output layer."""

    def __init__(self, network: Any, k: int) -> None:
        super().__init__()
        self.top = TopLayers(network.encoder, k)
        self.dropout, self.head = network.dropout, network.head
        self.label_smoothing = float(getattr(network, "label_smoothing", 0.0))

    def forward(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None
    ) -> Any:
        from agent.intent import IntentOutput

        states = self.top(hidden, attention_mask)
        weights = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        logits = self.head(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        return IntentOutput(logits=logits, pooled=pooled, loss=loss)


def freeze_all_but_top(encoder: Any, k: int) -> int:
    """Freeze everything below the top ``k`` layers; returns the trainable parameter count."""
    for param in encoder.parameters():
        param.requires_grad_(False)
    trainable = 0
    for layer in list(encoder.encoder.layer)[-k:]:
        for param in layer.parameters():
            param.requires_grad_(True)
            trainable += param.numel()
    return trainable


class CachedStates:
    """Per example: the hidden states entering the top ``k`` layers, and the final sentence
    vector (for the linear probe), from one no-grad pass of the frozen encoder."""

    def __init__(self, encoder: Any, data: Any, k: int, desc: str = "caching") -> None:
        self.labels, self.lengths = data.labels, data.lengths
        n_layers = len(encoder.encoder.layer)
        self.states: list[torch.Tensor] = [torch.empty(0)] * len(data.lengths)
        self.features = np.zeros((len(data.lengths), encoder.config.hidden_size), np.float32)
        was_training = encoder.training
        encoder.eval()
        order = np.argsort(data.lengths)
        with torch.inference_mode():
            for start in tqdm(range(0, len(order), CACHE_BATCH), desc=desc, unit="batch"):
                rows = order[start : start + CACHE_BATCH]
                batch = data.batch(rows)
                out = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              output_hidden_states=True)  # fmt: skip
                below, last = out.hidden_states[n_layers - k], out.hidden_states[-1]
                mask = batch["attention_mask"].unsqueeze(-1).to(last.dtype)
                pooled = (last * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                for r, i in enumerate(rows):
                    self.states[i] = below[r, : data.lengths[i]].clone()
                    self.features[i] = pooled[r].numpy()
        encoder.train(was_training)

    def batch(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        width = max(self.lengths[i] for i in rows)
        hidden = torch.zeros((len(rows), width, self.states[rows[0]].shape[-1]))
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            hidden[r, : self.lengths[i]] = self.states[i]
            mask[r, : self.lengths[i]] = 1
        return {"hidden": hidden, "attention_mask": mask, "labels": torch.tensor(self.labels[rows])}
