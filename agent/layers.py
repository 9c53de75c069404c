"""BERT-style transformer layers that load multilingual-e5 weights, as encoder or decoder.

The responder's selector head, memory bridge and decoder are all warm-started from e5 layers
(Rothe et al., TACL 2020). Writing the layer here, rather than using ``transformers``' BertLayer,
keeps incremental decoding (a key/value cache per layer, cross-attention keys computed once)
simple and independent of that library's cache classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KV = tuple[Tensor, Tensor]


class Attention(nn.Module):
    """Multi-head attention with separate key/value projection, so keys can be cached."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.output = nn.Linear(hidden, hidden)

    def _split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def keys_values(self, source: Tensor) -> KV:
        return self._split(self.key(source)), self._split(self.value(source))

    def forward(self, x: Tensor, kv: KV, mask: Tensor | None) -> Tensor:
        """``mask``: boolean, broadcastable to (batch, heads, queries, keys); True = attend."""
        q = self._split(self.query(x))
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=mask, dropout_p=p)
        b, h, t, d = out.shape
        return self.output(out.transpose(1, 2).reshape(b, t, h * d))


class TransformerLayer(nn.Module):
    """A post-layer-norm BERT layer; with ``cross=True`` it also attends to a memory."""

    def __init__(
        self, hidden: int, heads: int, ffn: int, eps: float, cross: bool = False, dropout=0.1
    ) -> None:
        super().__init__()
        self.attention = Attention(hidden, heads, dropout)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.cross = Attention(hidden, heads, dropout) if cross else None
        self.cross_norm = nn.LayerNorm(hidden, eps=eps) if cross else None
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        past: KV | None = None,
        memory_kv: KV | None = None,
        memory_mask: Tensor | None = None,
    ) -> tuple[Tensor, KV]:
        """Returns the new states and this call's self-attention keys/values (with ``past``)."""
        k, v = self.attention.keys_values(x)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        x = self.attention_norm(x + self.drop(self.attention(x, (k, v), mask)))
        if self.cross is not None and memory_kv is not None:
            x = self.cross_norm(x + self.drop(self.cross(x, memory_kv, memory_mask)))
        x = self.output_norm(x + self.drop(self.ffn_out(F.gelu(self.ffn_in(x)))))
        return x, (k, v)

    def load_bert(self, state: dict[str, Tensor], prefix: str) -> None:
        """Copy the weights of BERT layer ``prefix`` (``encoder.layer.3.``).

        Cross-attention has no pretrained counterpart; it starts as a copy of the layer's
        self-attention, which already compares token representations in a useful way.
        """
        names = {
            "attention.query": "attention.self.query",
            "attention.key": "attention.self.key",
            "attention.value": "attention.self.value",
            "attention.output": "attention.output.dense",
            "attention_norm": "attention.output.LayerNorm",
            "ffn_in": "intermediate.dense",
            "ffn_out": "output.dense",
            "output_norm": "output.LayerNorm",
        }
        if self.cross is not None:
            names.update(
                {
                    k.replace("attention", "cross", 1): v
                    for k, v in list(names.items())
                    if k.startswith("attention")
                }
            )
        own = self.state_dict()
        for ours, theirs in names.items():
            for suffix in ("weight", "bias"):
                own[f"{ours}.{suffix}"] = state[f"{prefix}{theirs}.{suffix}"].clone()
        self.load_state_dict(own)


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: Tensor, total: int) -> Tensor:
    """(batch, 1, 1, total) boolean mask, True on real tokens."""
    positions = torch.arange(total, device=lengths.device)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]


def init_linear(module: nn.Module, std: float = 0.02) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)


def scaled(x: Tensor) -> Tensor:
    return x / math.sqrt(x.shape[-1])
