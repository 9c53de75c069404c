"""Whisper base: reassemble the CTranslate2 folder, and convert it to an openai-whisper checkpoint.

The weight packages carry a float16 CTranslate2 ``model.bin`` split in two parts. faster-whisper
reads the reassembled folder directly; openai-whisper needs its own checkpoint
(``{"dims": ..., "model_state_dict": ...}``), which we derive losslessly from the same weights.
"""

from __future__ import annotations

import logging
import re
import struct
from pathlib import Path

import numpy as np

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    """Parse a CTranslate2 ``model.bin`` into named arrays (aliases resolved)."""
    try:
        return _parse_ctranslate2(path, path.read_bytes())
    except struct.error:
        raise ParlaError(f"{path} is truncated: run `parla setup` again to rebuild it") from None


def _parse_ctranslate2(path: Path, data: bytes) -> dict[str, np.ndarray]:
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def name() -> str:
        nonlocal pos
        (length,) = take("H")
        text = data[pos : pos + length].rstrip(b"\0").decode()
        pos += length
        return text

    take("I")  # binary version
    name()  # model spec name
    take("I")  # revision
    (count,) = take("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        var = name()
        (rank,) = take("B")
        shape = take(f"{rank}I") if rank else ()
        dtype_id, nbytes = take("BI")
        if dtype_id not in _CT2_DTYPES:
            raise ParlaError(f"{path}: variable {var} has unsupported dtype {dtype_id}")
        raw = data[pos : pos + nbytes]
        if len(raw) != nbytes:
            raise ParlaError(f"{path} is truncated: run `parla setup` again to rebuild it")
        pos += nbytes
        variables[var] = np.frombuffer(raw, dtype=_CT2_DTYPES[dtype_id]).reshape(shape)
    (aliases,) = take("I")
    for _ in range(aliases):
        alias, target = name(), name()
        variables[alias] = variables[target]
    return variables


def _layer_count(v: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return 1 + max(int(m.group(1)) for k in v if (m := pattern.match(k)))


def _split3(w: np.ndarray) -> list[np.ndarray]:
    return np.split(w, 3, axis=0)


def _attention(state: dict, v: dict, src: str, dst: str, fused_qkv: bool) -> None:
    """Map one CTranslate2 attention block onto openai-whisper's MultiHeadAttention."""
    if fused_qkv:
        q, k, vv = _split3(v[f"{src}/linear_0/weight"])
        qb, _kb, vb = _split3(v[f"{src}/linear_0/bias"])
        out = f"{src}/linear_1"
    else:  # cross-attention: query alone, then key and value fused
        q, qb = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        k, vv = np.split(v[f"{src}/linear_1/weight"], 2, axis=0)
        _kb, vb = np.split(v[f"{src}/linear_1/bias"], 2, axis=0)
        out = f"{src}/linear_2"
    state[f"{dst}.query.weight"], state[f"{dst}.query.bias"] = q, qb
    state[f"{dst}.key.weight"] = k  # openai-whisper's key projection has no bias
    state[f"{dst}.value.weight"], state[f"{dst}.value.bias"] = vv, vb
    state[f"{dst}.out.weight"], state[f"{dst}.out.bias"] = v[f"{out}/weight"], v[f"{out}/bias"]


def _norm(state: dict, v: dict, src: str, dst: str) -> None:
    state[f"{dst}.weight"], state[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]


def _ffn(state: dict, v: dict, src: str, dst: str) -> None:
    for i, j in ((0, 0), (1, 2)):
        state[f"{dst}.mlp.{j}.weight"] = v[f"{src}/linear_{i}/weight"]
        state[f"{dst}.mlp.{j}.bias"] = v[f"{src}/linear_{i}/bias"]
    _norm(state, v, f"{src}/layer_norm", f"{dst}.mlp_ln")


def whisper_state_dict(v: dict[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
    """openai-whisper ``ModelDimensions`` fields and ``model_state_dict`` from CT2 variables."""
    n_enc, n_dec = _layer_count(v, "encoder"), _layer_count(v, "decoder")
    state: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        state[f"encoder.{conv}.weight"] = v[f"encoder/{conv}/weight"]
        state[f"encoder.{conv}.bias"] = v[f"encoder/{conv}/bias"]
    state["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    for i in range(n_enc):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _attention(state, v, f"{src}/self_attention", f"{dst}.attn", fused_qkv=True)
        _norm(state, v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        _ffn(state, v, f"{src}/ffn", dst)
    _norm(state, v, "encoder/layer_norm", "encoder.ln_post")
    state["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    state["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    for i in range(n_dec):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _attention(state, v, f"{src}/self_attention", f"{dst}.attn", fused_qkv=True)
        _norm(state, v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        _attention(state, v, f"{src}/attention", f"{dst}.cross_attn", fused_qkv=False)
        _norm(state, v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        _ffn(state, v, f"{src}/ffn", dst)
    _norm(state, v, "decoder/layer_norm", "decoder.ln")
    dims = {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": n_enc,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(v["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": n_dec,
    }
    return dims, state


def convert_to_openai_whisper(ct2_model_bin: Path, out_file: Path) -> None:
    """Write an openai-whisper checkpoint (float32) that ``whisper.load_model(path)`` loads."""
    import torch

    dims, state = whisper_state_dict(read_ctranslate2(ct2_model_bin))
    tensors = {
        k: torch.from_numpy(np.asarray(a, dtype=np.float32).copy()) for k, a in state.items()
    }
    torch.save({"dims": dims, "model_state_dict": tensors}, out_file)
