"""Training only the top layers: the cached path must compute what the whole encoder does."""

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from finetune.partial import CachedStates, TopLayers, can_split, freeze_all_but_top


@pytest.fixture
def encoder() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=32, pad_token_id=1)  # fmt: skip
    return BertModel(config, add_pooling_layer=False).eval()


def test_top_layers_from_cached_states_match_the_whole_encoder(encoder):
    # Regression: a pad_token_id of 1 once broke the top model's one-row embedding matrix.
    ids = torch.tensor([[0, 7, 8, 9, 2, 1], [0, 5, 6, 7, 8, 2]])
    mask = (ids != 1).long()
    with torch.no_grad():
        full = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        top = TopLayers(encoder, 2).eval()(full.hidden_states[1], mask)
    assert torch.allclose(top[mask.bool()], full.last_hidden_state[mask.bool()], atol=1e-5)


def test_top_layers_share_the_encoders_modules(encoder):
    top = TopLayers(encoder, 1)
    assert top.model.encoder.layer[0] is encoder.encoder.layer[2]


def test_only_the_top_layers_train(encoder):
    trainable = freeze_all_but_top(encoder, 1)
    names = [n for n, p in encoder.named_parameters() if p.requires_grad]
    assert names and all(n.startswith("encoder.layer.2.") for n in names)
    assert trainable == sum(p.numel() for p in encoder.encoder.layer[2].parameters())


def test_cached_states_batch_like_the_tokens(encoder):
    class Data:
        lengths = [3, 5]
        labels = np.array([0, 1])

        def batch(self, rows):
            width = max(self.lengths[i] for i in rows)
            ids = torch.full((len(rows), width), 1)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                ids[r, : self.lengths[i]] = torch.arange(3, 3 + self.lengths[i])
                mask[r, : self.lengths[i]] = 1
            return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(self.labels)}

    cache = CachedStates(encoder, Data(), k=1)
    batch = cache.batch(np.array([0, 1]))
    assert batch["hidden"].shape == (2, 5, 16)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert cache.features.shape == (2, 16)


def test_can_split():
    assert can_split(BertModel(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                          num_attention_heads=1, intermediate_size=8)))  # fmt: skip
    assert not can_split(torch.nn.Linear(2, 2))
