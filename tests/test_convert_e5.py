"""e5 converter on a tiny E5S1 file written here, in the layout of offline-models.md."""

import struct
from pathlib import Path

import numpy as np
import pytest

from agent.convert.e5 import dequantize_q4, read_e5_q4, write_sentence_transformer
from agent.errors import ParlaError

PIECES = [
    "<s>",
    "<pad>",
    "</s>",
    "<unk>",
    "▁hello",
    "▁world",
    "▁",
    "h",
    "e",
    "l",
    "o",
    "w",
    "r",
    "d",
    ",",
    "<mask>",
]
HIDDEN, LAYERS, HEADS, FFN, MAXPOS = 32, 2, 2, 64, 16


def quantize_q4(w: np.ndarray) -> bytes:
    """The inverse of the file's 4-bit blocks (for building test files)."""
    flat = w.reshape(-1, 32).astype(np.float32)
    out = bytearray()
    for block in flat:
        scale = np.float16(max(np.abs(block).max() / 7.0, 1e-8))
        q = np.clip(np.round(block / np.float32(scale)) + 8, 0, 15).astype(np.uint8)
        out += scale.tobytes() + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
    return bytes(out)


def tiny_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = {
        "emb.word": rng.normal(size=(len(PIECES), HIDDEN)),
        "emb.pos": rng.normal(size=(MAXPOS, HIDDEN)),
        "emb.type": rng.normal(size=(2, HIDDEN)),
        "emb.ln.w": np.ones(HIDDEN),
        "emb.ln.b": np.zeros(HIDDEN),
    }
    for i in range(LAYERS):
        for p in ("q", "k", "v", "ao"):
            t[f"l{i}.{p}.w"] = rng.normal(size=(HIDDEN, HIDDEN)) * 0.1
            t[f"l{i}.{p}.b"] = rng.normal(size=HIDDEN) * 0.1
        t[f"l{i}.fi.w"], t[f"l{i}.fi.b"] = rng.normal(size=(FFN, HIDDEN)) * 0.1, np.zeros(FFN)
        t[f"l{i}.fo.w"], t[f"l{i}.fo.b"] = rng.normal(size=(HIDDEN, FFN)) * 0.1, np.zeros(HIDDEN)
        for ln in ("aln", "oln"):
            t[f"l{i}.{ln}.w"], t[f"l{i}.{ln}.b"] = np.ones(HIDDEN), np.zeros(HIDDEN)
    return {k: v.astype(np.float32) for k, v in t.items()}


def write_e5s1(path: Path, tensors: dict[str, np.ndarray]) -> None:
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head = b"E5S1" + b"\x01\0\0\0"
    head += struct.pack("<7i", HIDDEN, LAYERS, HEADS, FFN, len(PIECES), MAXPOS, 2)
    head += struct.pack("<f2i4iQ", 1e-12, 32, len(PIECES), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.array([0.0] * 4 + [-1.0] * (len(PIECES) - 4), "<f4").tobytes()
    head += blob + struct.pack("<iI", 0, 3) + b"xyz"
    payloads = [(k, *(_encode(k, v))) for k, v in tensors.items()]
    table_size = 4 + sum(2 + len(k) + 1 + 4 + 16 for k, _, _, _ in payloads)
    offset, table, data = len(head) + table_size, struct.pack("<i", len(payloads)), b""
    for name, dtype, count, raw in payloads:
        table += struct.pack("<H", len(name)) + name.encode()
        table += struct.pack("<BIQQ", dtype, count, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + table + data)


def _encode(name: str, v: np.ndarray) -> tuple[int, int, bytes]:
    if name.endswith(".w") and v.ndim == 2 or name == "emb.word":
        return 1, v.size, quantize_q4(v)
    return 0, v.size, v.astype("<f4").tobytes()


def test_dequantize_block_layout():
    block = np.float16(0.5).tobytes() + bytes([(8 + 1) | (8 - 2) << 4] * 16)
    values = dequantize_q4(block, 32)
    assert values[:16] == pytest.approx([0.5] * 16) and values[16:] == pytest.approx([-1.0] * 16)


def test_round_trip_into_transformers_and_sentence_transformers(tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    tensors = tiny_tensors(np.random.default_rng(0))
    write_e5s1(tmp_path / "tiny.bin", tensors)
    ckpt = read_e5_q4(tmp_path / "tiny.bin")
    assert ckpt.pieces == PIECES
    assert ckpt.tensors["l1.fo.w"].shape == (HIDDEN, FFN)
    np.testing.assert_allclose(ckpt.tensors["emb.pos"], tensors["emb.pos"])
    assert np.abs(ckpt.tensors["l0.q.w"] - tensors["l0.q.w"]).max() < 0.05

    write_sentence_transformer(ckpt, tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert tok("hello world")["input_ids"] == [0, 4, 5, 2]
    model = AutoModel.from_pretrained(tmp_path / "model")
    assert model.embeddings.word_embeddings.weight.shape == (len(PIECES), HIDDEN)
    st = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    emb = st.encode(["hello world", "world"], prompt_name="query")
    assert emb.shape == (2, HIDDEN)
    assert np.linalg.norm(emb, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_truncated_file_is_a_clear_error(tmp_path):
    write_e5s1(tmp_path / "tiny.bin", tiny_tensors(np.random.default_rng(1)))
    data = (tmp_path / "tiny.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) - 100])
    with pytest.raises(ParlaError, match="truncated"):
        read_e5_q4(tmp_path / "cut.bin")


def test_not_an_e5_file(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ParlaError, match="not an E5S1"):
        read_e5_q4(tmp_path / "x.bin")
