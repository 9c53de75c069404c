"""A trimmed vocabulary: the encoder's sentencepiece pieces that our languages and data use.

multilingual-e5-small has 250,037 pieces for ~100 languages; its embedding matrix is 96M of its
118M parameters, and a decoder's output layer over it is the slowest part of generating on a
CPU. We keep the pieces the training texts produce, every single-character piece of the scripts
the configured languages are written in, and the special tokens. The trimmed tokenizer is a
Unigram model over the kept pieces, so any text still tokenises: a word whose usual pieces were
dropped falls back to smaller kept pieces, down to single characters.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>")
HAN_LANGUAGES = frozenset({"zh", "ja"})  # written with Han characters
KANA_LANGUAGES = frozenset({"ja"})


def _script_ok(char: str, languages: frozenset[str]) -> bool:
    """Whether a single character belongs to a script the configured languages use."""
    code = ord(char)
    if char.isascii() or 0x2000 <= code <= 0x20CF:  # ASCII, general punctuation, currency
        return True
    name = unicodedata.name(char, "")
    if "LATIN" in name:
        return True
    if languages & HAN_LANGUAGES and (
        "CJK UNIFIED" in name or 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF
    ):
        return True
    return bool(languages & KANA_LANGUAGES) and 0x3040 <= code <= 0x30FF


def read_unigram(tokenizer_json: Path) -> dict:
    """The tokenizer.json of a sentencepiece Unigram tokenizer (XLM-R / e5 style)."""
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    if data.get("model", {}).get("type") != "Unigram":
        raise ParlaError(
            f"{tokenizer_json}: vocabulary trimming needs a sentencepiece Unigram tokenizer "
            "(XLM-R / multilingual-e5 family)"
        )
    return data


def choose_pieces(
    data: dict, texts: Iterable[str], languages: Sequence[str], tokenizer
) -> list[int]:
    """Original ids to keep, sorted: specials, pieces of ``texts``, single characters."""
    vocab = data["model"]["vocab"]
    keep = {i for i, (piece, _) in enumerate(vocab) if piece in SPECIAL_PIECES}
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == 512:
            keep.update(i for e in tokenizer.encode_batch(batch) for i in e.ids)
            batch = []
    keep.update(i for e in tokenizer.encode_batch(batch) for i in e.ids)
    langs = frozenset(languages)
    for i, (piece, _) in enumerate(vocab):
        bare = piece.replace("▁", "")
        if len(bare) == 1 and _script_ok(bare, langs) or piece == "▁":
            keep.add(i)
    return sorted(keep)


def trimmed_tokenizer_json(data: dict, keep: Sequence[int]) -> dict:
    """A copy of ``data`` whose Unigram vocabulary holds only ``keep`` (in that order)."""
    vocab = data["model"]["vocab"]
    new_id = {old: new for new, old in enumerate(keep)}
    pieces = {vocab[old][0]: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(data))
    out["model"]["vocab"] = [vocab[old] for old in keep]
    out["model"]["unk_id"] = pieces["<unk>"]
    out["added_tokens"] = [
        {**token, "id": new_id[token["id"]]}
        for token in data["added_tokens"]
        if token["id"] in new_id
    ]
    specials = out.get("post_processor", {}).get("special_tokens", {})
    for token in specials.values():
        token["ids"] = [pieces[t] for t in token["tokens"]]
    return out


def build_trimmed_tokenizer(
    source_dir: Path, texts: Iterable[str], languages: Sequence[str], out_dir: Path
) -> list[int]:
    """Write a trimmed ``tokenizer.json`` (+ config) into ``out_dir``; return the kept ids."""
    from tokenizers import Tokenizer

    data = read_unigram(source_dir / "tokenizer.json")
    full = Tokenizer.from_file(str(source_dir / "tokenizer.json"))
    keep = choose_pieces(data, texts, languages, full)
    out_dir.mkdir(parents=True, exist_ok=True)
    trimmed = trimmed_tokenizer_json(data, keep)
    (out_dir / "tokenizer.json").write_text(json.dumps(trimmed, ensure_ascii=False), "utf-8")
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "model_max_length": 512,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    logger.info("trimmed vocabulary: %d of %d pieces", len(keep), len(data["model"]["vocab"]))
    return keep
