"""The offline rewriter's network: an encoder-decoder warm-started from multilingual-e5 with a
copy (pointer-generator) head, and its decoding (greedy or beam, no repeated n-grams).

Memory: the frozen encoder's token states of the question, the intent, a short history and the
selected sentences, each tagged with a segment embedding, mixed by "bridge" layers (warm-started
from the encoder's next layers) so the sentences can see the question. Decoder: a few e5 layers
used causally, with cross-attention added. Each next-token distribution mixes the vocabulary
softmax with a copy distribution (attention over the memory tokens), weighted by a learned gate
(See et al., 2017): on small data a model learns to copy facts long before it learns to
generate them, which is what a support reply needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agent.layers import KV, TransformerLayer, causal_mask, init_linear, padding_mask

SEGMENTS = ("question", "intent", "history", "sentence")  # sentence i uses segment 3 + i
MAX_SEGMENTS = 8
BOS, PAD, EOS, UNK = 0, 1, 2, 3  # the trimmed vocabulary keeps XLM-R's special ids


@dataclass(frozen=True)
class GeneratorShape:
    vocab: int
    hidden: int = 384
    heads: int = 12
    ffn: int = 1536
    eps: float = 1e-12
    decoder_layers: int = 2  # chosen by measurement (see eval/bench_responder.py)
    bridge_layers: int = 1
    max_positions: int = 128  # longest reply, in tokens
    dropout: float = 0.1


@dataclass(frozen=True)
class DecodeSettings:
    num_beams: int = 1
    max_new_tokens: int = 64
    min_new_tokens: int = 2
    no_repeat_ngram: int = 3  # 0 turns the ban off
    length_penalty: float = 1.0  # beam scores are divided by length ** this
    # Decoding stops once the best hypothesis' mean log-probability per token is under
    # ``give_up_below`` after ``give_up_after`` tokens; it is returned with that score. The
    # responder sets it below the confidence a rewrite needs, so a reply it would reject
    # anyway is not written to the end (see ``ResponderConfig.give_up_factor``).
    give_up_below: float = float("-inf")
    give_up_after: int = 4


@dataclass(frozen=True, eq=False)
class Memory:
    """What the decoder reads, for a batch."""

    states: Tensor  # (batch, source, hidden) after the bridge
    mask: Tensor  # (batch, 1, 1, source) boolean, True on real tokens
    source_ids: Tensor  # (batch, source) vocabulary ids of the memory tokens
    copyable: Tensor  # (batch, source) boolean: tokens the copy head may point at
    allowed: Tensor | None = None  # (batch, vocab) boolean: tokens the generator may write


@dataclass(frozen=True, eq=False)
class OutputRows:
    """The output layer cut to the tokens one reply may write (its language's, about 2k of 18k).

    Decoding reads the whole output matrix (28 MB) once per token; cut, it stays in the CPU's
    cache and a 40-token reply takes about 40% less time (bench_responder on 2 cores: p50 340-392
    -> 212 ms). The other tokens' probability was 0 anyway.
    """

    ids: Tensor  # (k,) vocabulary ids
    weight: Tensor  # (k, hidden)
    bias: Tensor  # (k,)


class CopyGenerator(nn.Module):
    def __init__(self, shape: GeneratorShape) -> None:
        super().__init__()
        self.shape = shape
        h = shape.hidden
        layer = dict(
            hidden=h, heads=shape.heads, ffn=shape.ffn, eps=shape.eps, dropout=shape.dropout
        )
        self.segment = nn.Embedding(MAX_SEGMENTS, h)
        self.bridge = nn.ModuleList(TransformerLayer(**layer) for _ in range(shape.bridge_layers))
        self.word = nn.Embedding(shape.vocab, h)
        self.position = nn.Embedding(shape.max_positions, h)
        self.embed_norm = nn.LayerNorm(h, eps=shape.eps)
        self.decoder = nn.ModuleList(
            TransformerLayer(**layer, cross=True) for _ in range(shape.decoder_layers)
        )
        self.transform = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.LayerNorm(h, eps=shape.eps))
        self.out_bias = nn.Parameter(torch.zeros(shape.vocab))
        self.copy_query = nn.Linear(h, h)
        self.copy_key = nn.Linear(h, h)
        self.gate = nn.Linear(3 * h, 1)
        # Copy continuation: after emitting a token found at source position j - 1, position j
        # is the natural next token to copy. These learned weights let whole spans be copied
        # from the start of training instead of being discovered from a few thousand pairs.
        self.continuation = nn.Parameter(torch.tensor(4.0))
        self.gate_continuation = nn.Parameter(torch.tensor(2.0))
        self.drop = nn.Dropout(shape.dropout)
        for module in (self.transform, self.copy_query, self.copy_key, self.gate):
            init_linear(module)
        nn.init.zeros_(self.segment.weight)

    def memory(self, states: Tensor, segments: Tensor, lengths: Tensor, ids: Tensor) -> Memory:
        mask = padding_mask(lengths, states.shape[1])
        x = states + self.segment(segments)
        for layer in self.bridge:
            x, _ = layer(x, mask)
        copyable = mask[:, 0, 0, :] & (ids != BOS) & (ids != EOS) & (ids != PAD)
        return Memory(x, mask, ids, copyable)

    def embed(self, tokens: Tensor, start: int = 0) -> Tensor:
        positions = torch.arange(start, start + tokens.shape[1]).clamp(
            max=self.shape.max_positions - 1
        )
        return self.drop(self.embed_norm(self.word(tokens) + self.position(positions)[None]))

    def cross_keys(self, memory: Memory) -> list[KV]:
        return [layer.cross.keys_values(memory.states) for layer in self.decoder]  # type: ignore[union-attr]

    def decode(
        self,
        tokens: Tensor,
        memory: Memory,
        cross: list[KV],
        start: int = 0,
        past: list[KV] | None = None,
    ) -> tuple[Tensor, list[KV]]:
        x = self.embed(tokens, start)
        mask = causal_mask(tokens.shape[1])[None, None] if past is None else None
        presents = []
        for i, layer in enumerate(self.decoder):
            x, kv = layer(x, mask, past[i] if past else None, cross[i], memory.mask)
            presents.append(kv)
        return x, presents

    def output_rows(self, allowed: Tensor | None) -> OutputRows | None:
        """The output layer cut to ``allowed`` (one row of ``Memory.allowed``); None: uncut."""
        if allowed is None:
            return None
        ids = allowed.nonzero().squeeze(1)
        return OutputRows(ids, self.word.weight[ids], self.out_bias[ids])

    def mix(
        self,
        hidden: Tensor,
        memory: Memory,
        copy_keys: Tensor,
        previous: Tensor,
        rows: OutputRows | None = None,
    ):
        """Vocabulary log-probabilities (over ``rows.ids`` when given), copy attention and the
        generate-vs-copy gate."""
        if rows is not None:
            logits = nn.functional.linear(self.transform(hidden), rows.weight, rows.bias)
        else:
            logits = self.transform(hidden) @ self.word.weight.T + self.out_bias
        if rows is None and memory.allowed is not None:  # no "Yes," in a German reply
            logits = logits.masked_fill(~memory.allowed[:, None, :], float("-inf"))
        scores = self.copy_query(hidden) @ copy_keys.transpose(1, 2) / hidden.shape[-1] ** 0.5
        follows = _follows(memory, previous)
        scores = scores + self.continuation * follows
        scores = scores.masked_fill(~memory.copyable[:, None, :], float("-inf"))
        attention = scores.softmax(-1)
        context = attention @ memory.states
        gate_in = torch.cat([hidden, context, self.word(previous)], -1)
        gate_logit = self.gate(gate_in) - self.gate_continuation * follows.amax(-1, keepdim=True)
        return logits.log_softmax(-1), attention, torch.sigmoid(gate_logit)

    def loss(self, memory: Memory, targets: Tensor) -> Tensor:
        """Mean negative log-likelihood of ``targets`` (``<s>`` reply ``</s>``, padded)."""
        inputs, labels = targets[:, :-1], targets[:, 1:]
        hidden, _ = self.decode(inputs, memory, self.cross_keys(memory))
        log_vocab, attention, gate = self.mix(hidden, memory, self.copy_key(memory.states), inputs)
        p_vocab = log_vocab.gather(-1, labels[..., None]).squeeze(-1).exp()
        same = memory.source_ids[:, None, :] == labels[:, :, None]
        p_copy = (attention * same).sum(-1)
        p = gate.squeeze(-1) * p_vocab + (1 - gate.squeeze(-1)) * p_copy
        real = labels != PAD
        return -(torch.log(p + 1e-9) * real).sum() / real.sum()

    def load_e5(self, state: dict[str, Tensor], bridge_from: int) -> None:
        """Warm start: embeddings and decoder layers 0.. from e5, bridge from ``bridge_from``."""
        with torch.no_grad():
            positions = state["embeddings.position_embeddings.weight"][: self.shape.max_positions]
            # e5 adds token-type 0 to every token; fold it into the positions
            self.position.weight.copy_(
                positions + state["embeddings.token_type_embeddings.weight"][0]
            )
            self.embed_norm.weight.copy_(state["embeddings.LayerNorm.weight"])
            self.embed_norm.bias.copy_(state["embeddings.LayerNorm.bias"])
        for i, layer in enumerate(self.decoder):
            layer.load_bert(state, f"encoder.layer.{i}.")
        for i, layer in enumerate(self.bridge):
            layer.load_bert(state, f"encoder.layer.{bridge_from + i}.")


def _follows(memory: Memory, previous: Tensor) -> Tensor:
    """(batch, steps, source): 1 where the source token before position j is the token just
    emitted (``previous``), i.e. where copying would continue a copied span."""
    before = torch.cat(
        [torch.full_like(memory.source_ids[:, :1], PAD), memory.source_ids[:, :-1]], 1
    )
    same = before[:, None, :] == previous[:, :, None]
    return (same & memory.copyable[:, None, :] & (previous != BOS)[:, :, None]).float()


# --- decoding ----------------------------------------------------------------------------------


@torch.inference_mode()
def generate(
    model: CopyGenerator, memory: Memory, settings: DecodeSettings
) -> tuple[list[int], float]:
    """The best reply for one memory (batch of 1), without ``<s>``/``</s>``, and its score:
    the mean log-probability per token (with the default ``length_penalty`` of 1)."""
    beams = max(1, settings.num_beams)
    rows = model.output_rows(None if memory.allowed is None else memory.allowed[0])
    memory = _repeat(memory, beams)
    cross, copy_keys = model.cross_keys(memory), model.copy_key(memory.states)
    hyps: list[list[int]] = [[] for _ in range(beams)]
    scores = torch.full((beams,), float("-inf"))
    scores[0] = 0.0  # all beams start identical: let only one of them expand at step 0
    last = torch.full((beams, 1), BOS, dtype=torch.long)
    past: list[KV] | None = None
    finished: list[tuple[float, list[int]]] = []
    for step in range(settings.max_new_tokens):
        hidden, past = model.decode(last, memory, cross, start=step, past=past)
        log_p = _next_log_probs(model, hidden, memory, copy_keys, last, rows)
        _ban(log_p, hyps, step, settings)
        total = (scores[:, None] + log_p).view(-1)
        top = total.topk(2 * beams)
        survivors: list[tuple[int, int, float]] = []
        for value, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            beam, token = divmod(flat, log_p.shape[1])
            if value == float("-inf"):
                break
            if token == EOS:
                finished.append(
                    (value / (len(hyps[beam]) + 1) ** settings.length_penalty, hyps[beam])
                )
            else:
                survivors.append((beam, token, value))
            if len(survivors) == beams:
                break
        if len(finished) >= beams or not survivors:
            break
        index = torch.tensor([b for b, _, _ in survivors])
        hyps = [hyps[b] + [t] for b, t, _ in survivors]
        scores = torch.tensor([v for _, _, v in survivors])
        last = torch.tensor([[t] for _, t, _ in survivors])
        if beams > 1:  # greedy keeps its only row
            past = [(k[index], v[index]) for k, v in past]
        if len(survivors) < memory.states.shape[0]:
            memory, cross, copy_keys = _take(memory, cross, copy_keys, index)
        if _hopeless(scores, step + 1, settings):
            break
    if not finished:
        finished = [
            (s / max(1, len(h)) ** settings.length_penalty, h)
            for s, h in zip(scores.tolist(), hyps, strict=True)
        ]
    score, tokens = max(finished, key=lambda f: f[0])
    return tokens, score


def _hopeless(scores: Tensor, length: int, settings: DecodeSettings) -> bool:
    best_mean = float(scores.max()) / length
    return length >= settings.give_up_after and best_mean < settings.give_up_below


def _next_log_probs(model, hidden, memory: Memory, copy_keys, last, rows=None) -> Tensor:
    log_vocab, attention, gate = model.mix(hidden, memory, copy_keys, last, rows)
    gate, attention = gate[:, -1], attention[:, -1]
    p_vocab = log_vocab[:, -1].exp()
    if rows is not None:  # back to the whole vocabulary: 0 where the language does not write
        p_vocab = torch.zeros(len(p_vocab), model.shape.vocab).index_copy_(1, rows.ids, p_vocab)
    p = gate * p_vocab
    p = p.scatter_add(1, memory.source_ids, (1 - gate) * attention)
    return torch.log(p + 1e-12)


def _ban(log_p: Tensor, hyps: list[list[int]], step: int, settings: DecodeSettings) -> None:
    log_p[:, [BOS, PAD, UNK]] = float("-inf")
    if step < settings.min_new_tokens:
        log_p[:, EOS] = float("-inf")
    n = settings.no_repeat_ngram
    if n <= 0:
        return
    for row, tokens in enumerate(hyps):
        if len(tokens) < n - 1:
            continue
        suffix = tokens[len(tokens) - n + 1 :] if n > 1 else []
        for i in range(len(tokens) - n + 1):
            if tokens[i : i + n - 1] == suffix:
                log_p[row, tokens[i + n - 1]] = float("-inf")


def _rows(memory: Memory, pick) -> Memory:
    fields = (memory.states, memory.mask, memory.source_ids, memory.copyable, memory.allowed)
    return Memory(*(None if t is None else pick(t) for t in fields))


def _repeat(memory: Memory, n: int) -> Memory:
    return _rows(memory, lambda t: t.expand(n, *t.shape[1:]))


def _take(memory: Memory, cross: list[KV], copy_keys: Tensor, index: Tensor):
    picked = _rows(memory, lambda t: t[index])
    return picked, [(k[index], v[index]) for k, v in cross], copy_keys[index]


def pad_batch(sequences: list[list[int]], value: int = PAD) -> Tensor:
    longest = max(len(s) for s in sequences)
    out = torch.full((len(sequences), longest), value, dtype=torch.long)
    for row, s in enumerate(sequences):
        out[row, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out
