from __future__ import annotations

import dataclasses

import pytest
import torch

from agent.copy_generator import (
    BOS,
    EOS,
    CopyGenerator,
    DecodeSettings,
    GeneratorShape,
    Memory,
    _next_log_probs,
    generate,
    pad_batch,
)

VOCAB = 30


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and much faster on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SHAPE = GeneratorShape(
    vocab=VOCAB,
    hidden=32,
    heads=2,
    ffn=64,
    eps=1e-12,
    decoder_layers=1,
    bridge_layers=1,
    max_positions=32,
    dropout=0.0,
)


def _memory(model: CopyGenerator, table: torch.Tensor, sources: list[list[int]]) -> Memory:
    ids = pad_batch([[BOS, *s, EOS] for s in sources])
    lengths = torch.tensor([len(s) + 2 for s in sources])
    positions = torch.arange(ids.shape[1])[None, :, None].float() / 10
    states = table[ids] + positions  # a stand-in for the frozen encoder's token states
    return model.memory(states, torch.zeros_like(ids), lengths, ids)


def test_the_copy_head_learns_to_copy_unseen_sequences():
    """Copying must not depend on the tokens: train on random sequences, test on new ones."""
    torch.manual_seed(0)
    model = CopyGenerator(SHAPE)
    table = torch.randn(VOCAB, 32)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        sources = [torch.randint(4, VOCAB, (5,)).tolist() for _ in range(16)]
        loss = model.loss(
            _memory(model, table, sources), pad_batch([[BOS, *s, EOS] for s in sources])
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    right = 0
    for _ in range(10):
        source = torch.randint(4, VOCAB, (5,)).tolist()
        right += (
            generate(model, _memory(model, table, [source]), DecodeSettings(no_repeat_ngram=0))[0]
            == source
        )
    assert right >= 8


def test_generation_respects_the_length_limits():
    torch.manual_seed(0)
    model = CopyGenerator(SHAPE).eval()
    memory = _memory(model, torch.randn(VOCAB, 32), [[5, 6, 7]])
    out, _ = generate(model, memory, DecodeSettings(max_new_tokens=7, min_new_tokens=7))
    assert len(out) == 7
    assert EOS not in out and BOS not in out


def test_no_three_token_sequence_is_repeated():
    torch.manual_seed(1)
    model = CopyGenerator(SHAPE).eval()
    memory = _memory(model, torch.randn(VOCAB, 32), [[5, 5, 5, 5]])
    out, _ = generate(model, memory, DecodeSettings(max_new_tokens=20, min_new_tokens=20))
    trigrams = [tuple(out[i : i + 3]) for i in range(len(out) - 2)]
    assert len(trigrams) == len(set(trigrams))


def test_beam_search_returns_a_sequence_at_least_as_likely_as_greedy():
    torch.manual_seed(2)
    model = CopyGenerator(SHAPE).eval()
    memory = _memory(model, torch.randn(VOCAB, 32), [[4, 9, 12, 20]])
    greedy, greedy_score = generate(model, memory, DecodeSettings(num_beams=1, no_repeat_ngram=0))
    beam, beam_score = generate(model, memory, DecodeSettings(num_beams=4, no_repeat_ngram=0))

    def score(tokens: list[int]) -> float:
        with torch.no_grad():
            return -model.loss(memory, torch.tensor([[BOS, *tokens, EOS]])).item() * (
                len(tokens) + 1
            )

    assert score(beam) / (len(beam) + 1) >= score(greedy) / (len(greedy) + 1) - 1e-4


def test_the_generator_writes_only_allowed_tokens_and_copies_the_rest():
    torch.manual_seed(3)
    model = CopyGenerator(SHAPE).eval()
    memory = _memory(model, torch.randn(VOCAB, 32), [[7, 8, 9]])
    allowed = torch.zeros(1, VOCAB, dtype=torch.bool)
    allowed[0, [EOS, 20]] = True
    memory = dataclasses.replace(memory, allowed=allowed)
    out, score = generate(model, memory, DecodeSettings(max_new_tokens=6, no_repeat_ngram=0))
    assert set(out) <= {7, 8, 9, 20}
    assert score <= 0.0


def test_the_cut_output_layer_gives_the_same_next_token_probabilities():
    """Decoding multiplies only the allowed tokens' rows; the distribution must not change."""
    torch.manual_seed(4)
    model = CopyGenerator(SHAPE).eval()
    memory = _memory(model, torch.randn(VOCAB, 32), [[7, 8, 9]])
    allowed = torch.rand(1, VOCAB) < 0.4
    allowed[0, EOS] = True
    memory = dataclasses.replace(memory, allowed=allowed)
    last = torch.tensor([[BOS]])
    with torch.no_grad():
        hidden, _ = model.decode(last, memory, model.cross_keys(memory))
        copy_keys = model.copy_key(memory.states)
        whole = _next_log_probs(model, hidden, memory, copy_keys, last)
        rows = model.output_rows(allowed[0])
        cut = _next_log_probs(model, hidden, memory, copy_keys, last, rows)
    assert rows is not None and len(rows.ids) == int(allowed.sum())
    assert torch.allclose(whole, cut, atol=1e-6)


def test_a_hopeless_reply_is_abandoned_after_a_few_tokens_with_its_low_score():
    torch.manual_seed(0)
    model = CopyGenerator(SHAPE).eval()  # untrained: no token is certain
    memory = _memory(model, torch.randn(VOCAB, 32), [[5, 6, 7]])
    full = DecodeSettings(max_new_tokens=12, min_new_tokens=12, no_repeat_ngram=0)
    out, score = generate(model, memory, full)
    assert len(out) == 12 and score < 0.0
    stop = dataclasses.replace(full, give_up_below=0.0, give_up_after=3)  # any doubt: hopeless
    short, short_score = generate(model, memory, stop)
    assert short == out[:3]  # the same greedy start, cut where it was judged hopeless
    assert short_score < 0.0
    patient = dataclasses.replace(full, give_up_below=-50.0, give_up_after=3)
    assert generate(model, memory, patient) == (out, score)  # never under the bar: whole
