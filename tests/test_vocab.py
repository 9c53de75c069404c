from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from agent.errors import ParlaError
from agent.vocab import build_trimmed_tokenizer, read_unigram
from tests.tiny_responder import build_tiny_encoder, write_kb


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocab")
    return build_tiny_encoder(root / "encoder", write_kb(root / "kb"))


def test_the_trimmed_vocabulary_keeps_specials_and_the_pieces_of_the_data(encoder_dir, tmp_path):
    keep = build_trimmed_tokenizer(encoder_dir, ["Standard delivery"], ["en"], tmp_path)
    full = json.loads((encoder_dir / "tokenizer.json").read_text())["model"]["vocab"]
    assert keep[:4] == [0, 1, 2, 3]  # <s> <pad> </s> <unk> keep their ids
    assert keep == sorted(keep) and len(keep) < len(full)
    trimmed = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    pieces = trimmed.encode("Standard delivery").tokens
    assert pieces == ["<s>", "▁Standard", "▁delivery", "</s>"]


def test_text_outside_the_data_still_tokenises_into_smaller_pieces(encoder_dir, tmp_path):
    build_trimmed_tokenizer(encoder_dir, ["Standard delivery"], ["en"], tmp_path)
    trimmed = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    encoding = trimmed.encode("Express returns")  # whole-word pieces were dropped
    assert trimmed.decode(encoding.ids) == "Express returns"
    assert len(encoding.ids) > 4
    assert 3 in trimmed.encode("Здравствуйте").ids  # a script no language uses: <unk>


def test_only_sentencepiece_unigram_tokenizers_can_be_trimmed(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"type": "WordPiece"}}))
    with pytest.raises(ParlaError, match="Unigram"):
        read_unigram(tmp_path / "tokenizer.json")
