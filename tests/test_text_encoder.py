"""The responder's frozen encoder: token states per text, cached."""

from __future__ import annotations

import pytest
import torch

from agent.text_encoder import TextEncoder
from tests.tiny_responder import build_tiny_encoder, write_kb

TEXTS = ["How long does standard delivery take?", "refund", "Can I return an opened item?"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tokenizers import Tokenizer
    from transformers import BertModel

    root = tmp_path_factory.mktemp("text_encoder")
    folder = build_tiny_encoder(root / "encoder", write_kb(root / "kb"))
    model = BertModel.from_pretrained(str(folder), add_pooling_layer=False)
    return model, Tokenizer.from_file(str(folder / "tokenizer.json"))


def test_states_are_one_row_per_token_and_cached(tiny):
    encoder = TextEncoder(*tiny)
    first = encoder.encode(TEXTS)
    assert [len(e.ids) for e in first] == [len(encoder.token_ids(t)) for t in TEXTS]
    assert all(e.states.shape == (len(e.ids), encoder.hidden) for e in first)
    assert all(a is b for a, b in zip(encoder.encode(TEXTS), first, strict=True))


def test_a_full_cache_still_returns_every_text_of_the_request(tiny):
    encoder = TextEncoder(*tiny, cache_size=2)
    cached = encoder.encode([TEXTS[0]])[0]
    # TEXTS[0] is now the least recently used entry; the two new texts must not push it out
    # before this request has its answer
    out = encoder.encode(TEXTS)
    assert out[0] is cached
    alone = TextEncoder(*tiny).encode([TEXTS[2]])[0]
    assert torch.allclose(out[2].states, alone.states, atol=1e-5)
    assert len(encoder._cache) == 2


def test_the_same_text_twice_in_a_request_is_encoded_once(tiny):
    encoder = TextEncoder(*tiny)
    out = encoder.encode([TEXTS[1], TEXTS[1]])
    assert out[0] is out[1]
