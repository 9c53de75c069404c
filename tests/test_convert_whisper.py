"""Whisper converter: a tiny openai-whisper model written as a CTranslate2 file and back."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.convert.whisper import convert_to_openai_whisper, read_ctranslate2
from agent.errors import ParlaError

DIMS = dict(
    n_mels=80,
    n_audio_ctx=24,
    n_audio_state=16,
    n_audio_head=2,
    n_audio_layer=2,
    n_vocab=51865,
    n_text_ctx=8,
    n_text_state=16,
    n_text_head=2,
    n_text_layer=2,
)


def ct2_variables(sd: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """openai-whisper names -> CTranslate2 names, fusing q/k/v as CTranslate2 stores them."""
    a = {k: v.detach().numpy().astype(np.float16) for k, v in sd.items()}
    v: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        v[f"encoder/{conv}/weight"], v[f"encoder/{conv}/bias"] = (
            a[f"encoder.{conv}.weight"],
            a[f"encoder.{conv}.bias"],
        )
    v["encoder/position_encodings/encodings"] = a["encoder.positional_embedding"]
    v["decoder/embeddings/weight"] = a["decoder.token_embedding.weight"]
    v["decoder/position_encodings/encodings"] = a["decoder.positional_embedding"]
    v["encoder/num_heads"] = np.array(2, dtype=np.int16)
    v["decoder/num_heads"] = np.array(2, dtype=np.int16)
    for side, n in (("encoder", 2), ("decoder", 2)):
        for i in range(n):
            s, d = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            _self_attn(v, a, f"{s}/self_attention", f"{d}.attn", f"{d}.attn_ln")
            for j, k in ((0, 0), (1, 2)):
                v[f"{s}/ffn/linear_{j}/weight"], v[f"{s}/ffn/linear_{j}/bias"] = (
                    a[f"{d}.mlp.{k}.weight"],
                    a[f"{d}.mlp.{k}.bias"],
                )
            v[f"{s}/ffn/layer_norm/gamma"], v[f"{s}/ffn/layer_norm/beta"] = (
                a[f"{d}.mlp_ln.weight"],
                a[f"{d}.mlp_ln.bias"],
            )
            if side == "decoder":
                c = f"{d}.cross_attn"
                v[f"{s}/attention/linear_0/weight"], v[f"{s}/attention/linear_0/bias"] = (
                    a[f"{c}.query.weight"],
                    a[f"{c}.query.bias"],
                )
                v[f"{s}/attention/linear_1/weight"] = np.concatenate(
                    [a[f"{c}.key.weight"], a[f"{c}.value.weight"]]
                )
                v[f"{s}/attention/linear_1/bias"] = np.concatenate(
                    [np.zeros_like(a[f"{c}.value.bias"]), a[f"{c}.value.bias"]]
                )
                v[f"{s}/attention/linear_2/weight"], v[f"{s}/attention/linear_2/bias"] = (
                    a[f"{c}.out.weight"],
                    a[f"{c}.out.bias"],
                )
                v[f"{s}/attention/layer_norm/gamma"], v[f"{s}/attention/layer_norm/beta"] = (
                    a[f"{d}.cross_attn_ln.weight"],
                    a[f"{d}.cross_attn_ln.bias"],
                )
    v["encoder/layer_norm/gamma"], v["encoder/layer_norm/beta"] = (
        a["encoder.ln_post.weight"],
        a["encoder.ln_post.bias"],
    )
    v["decoder/layer_norm/gamma"], v["decoder/layer_norm/beta"] = (
        a["decoder.ln.weight"],
        a["decoder.ln.bias"],
    )
    return v


def _self_attn(v, a, s, d, ln):
    v[f"{s}/linear_0/weight"] = np.concatenate(
        [a[f"{d}.query.weight"], a[f"{d}.key.weight"], a[f"{d}.value.weight"]]
    )
    zeros = np.zeros_like(a[f"{d}.query.bias"])
    v[f"{s}/linear_0/bias"] = np.concatenate([a[f"{d}.query.bias"], zeros, a[f"{d}.value.bias"]])
    v[f"{s}/linear_1/weight"], v[f"{s}/linear_1/bias"] = a[f"{d}.out.weight"], a[f"{d}.out.bias"]
    v[f"{s}/layer_norm/gamma"], v[f"{s}/layer_norm/beta"] = a[f"{ln}.weight"], a[f"{ln}.bias"]


def write_ct2(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    codes = {np.dtype(np.float16): 4, np.dtype(np.int16): 2, np.dtype(np.float32): 0}

    def name(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = struct.pack("<I", 6) + name("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for key, arr in variables.items():
        out += name(key) + struct.pack("<B", arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape)
        out += struct.pack("<BI", codes[arr.dtype], arr.nbytes) + arr.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += name(alias) + name(target)
    path.write_bytes(out)


def test_tiny_whisper_round_trip(tmp_path):
    import whisper
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    original = Whisper(ModelDimensions(**DIMS)).eval()
    torch.nn.init.normal_(original.decoder.positional_embedding)  # created with torch.empty
    write_ct2(
        tmp_path / "model.bin",
        ct2_variables(original.state_dict()),
        {"decoder/projection/weight": "decoder/embeddings/weight"},
    )
    assert "decoder/projection/weight" in read_ctranslate2(tmp_path / "model.bin")

    convert_to_openai_whisper(tmp_path / "model.bin", tmp_path / "tiny.pt")
    loaded = whisper.load_model(str(tmp_path / "tiny.pt"), device="cpu")
    assert vars(loaded.dims) == DIMS
    mel, tokens = torch.randn(1, 80, 48), torch.tensor([[50258, 50259, 50359]])
    with torch.no_grad():
        expected = original.half().float()(mel, tokens)  # the file holds float16 weights
        got = loaded(mel, tokens)
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-3)


def test_truncated_ct2_file(tmp_path):
    write_ct2(tmp_path / "model.bin", {"a/b": np.ones((4, 4), np.float16)}, {})
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-20])
    with pytest.raises(ParlaError, match="truncated"):
        read_ctranslate2(tmp_path / "cut.bin")
