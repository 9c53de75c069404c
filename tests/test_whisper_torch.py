"""speech.whisper_torch: openai-whisper with variable-length windows, on a tiny random model."""

import dataclasses

import numpy as np
import pytest

from agent.config import ASRConfig
from agent.errors import ParlaError

torch = pytest.importorskip("torch")
whisper = pytest.importorskip("whisper")

from speech.whisper_torch import TorchWhisper, load_engine  # noqa: E402

DIMS = whisper.model.ModelDimensions(
    n_mels=80,
    n_audio_ctx=1500,
    n_audio_state=32,
    n_audio_head=2,
    n_audio_layer=2,
    n_vocab=51865,
    n_text_ctx=448,
    n_text_state=32,
    n_text_head=2,
    n_text_layer=1,
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = whisper.model.Whisper(DIMS)
    # openai-whisper leaves the decoder's positional embedding as torch.empty (checkpoints fill
    # it); uninitialised memory can hold NaNs, so give the random model real values.
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    path = tmp_path_factory.mktemp("tiny-whisper") / "tiny.pt"
    torch.save({"dims": dataclasses.asdict(DIMS), "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def engine(checkpoint):
    return load_engine(
        ASRConfig(backend="openai-whisper", model=str(checkpoint), device="cpu", cpu_threads=1)
    )


def test_short_window_encodes_fewer_positions(engine):
    mel = engine.encode(np.zeros(3 * 16_000, dtype=np.float32), 4.0)
    assert mel.shape == (1, 80, 400)
    assert engine.model.encoder(mel).shape == (1, 200, 32)


def test_full_window_matches_the_original_encoder(checkpoint, engine):
    original = whisper.load_model(str(checkpoint), device="cpu")
    samples = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    mel = engine.encode(samples, 30.0)
    with torch.inference_mode():
        expected = original.encoder(mel)
        got = engine.model.encoder(mel)
    assert torch.allclose(expected, got, atol=1e-5)


def test_language_probs_and_decoding_run(engine):
    mel = engine.encode(np.zeros(16_000, dtype=np.float32), 2.0)
    probs = engine.language_probs(mel)
    assert {"en", "de", "zh"} <= set(probs) and sum(probs.values()) == pytest.approx(1, abs=1e-3)
    out = engine.decode(mel, "de", max_tokens=5)
    assert isinstance(out.text, str) and 0.0 <= out.no_speech_prob <= 1.0
    sampled = engine.decode(mel, "zh", max_tokens=5, temperature=0.8, prompt="以下是普通话的句子。")
    assert isinstance(sampled.text, str)


def test_encoder_output_is_reused_between_language_id_and_decoding(engine, monkeypatch):
    mel = engine.encode(np.zeros(16_000, dtype=np.float32), 2.0)
    calls = []
    inner_forward = engine.model.encoder.inner.blocks[0].forward
    monkeypatch.setattr(
        engine.model.encoder.inner.blocks[0],
        "forward",
        lambda *a, **k: calls.append(1) or inner_forward(*a, **k),
    )
    engine.language_probs(mel)
    engine.decode(mel, "en", max_tokens=3)
    assert calls == []  # both used the encoding made in encode()


def test_bundle_name_maps_to_the_converted_checkpoint():
    from speech.whisper_torch import BUNDLE_ALIASES

    assert BUNDLE_ALIASES["bundle:whisper-base"] == "bundle:whisper-base-openai"


def test_unknown_model_name_offline_is_a_clear_error(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("no network")

    monkeypatch.setattr(whisper, "load_model", refuse)
    with pytest.raises(ParlaError, match="cannot load Whisper model 'small'"):
        load_engine(ASRConfig(backend="openai-whisper", model="small", device="cpu"))


def test_folder_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ParlaError, match="exactly one openai-whisper .pt"):
        load_engine(ASRConfig(backend="openai-whisper", model=str(tmp_path), device="cpu"))


def test_engine_type(engine):
    assert isinstance(engine, TorchWhisper) and engine.name == "openai-whisper"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error(checkpoint):
    with pytest.raises(ParlaError, match="torch sees no GPU"):
        load_engine(ASRConfig(backend="openai-whisper", model=str(checkpoint), device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_it_runs_in_float16_and_agrees_with_the_cpu(checkpoint, engine):
    gpu = load_engine(ASRConfig(backend="openai-whisper", model=str(checkpoint), device="cuda"))
    samples = np.random.default_rng(1).standard_normal(3 * 16_000).astype(np.float32) * 0.1
    mel_gpu, mel_cpu = gpu.encode(samples, 5.0), engine.encode(samples, 5.0)
    assert gpu.fp16 and mel_gpu.dtype == torch.float16 and mel_gpu.is_cuda
    with torch.inference_mode():
        states_gpu = gpu.model.encoder(mel_gpu).float().cpu()
        states_cpu = engine.model.encoder(mel_cpu)
    assert torch.allclose(states_gpu, states_cpu, atol=2e-2)
    probs_gpu, probs_cpu = gpu.language_probs(mel_gpu), engine.language_probs(mel_cpu)
    assert all(abs(probs_gpu[k] - probs_cpu[k]) < 1e-2 for k in probs_cpu)
    out = gpu.decode(mel_gpu, "en", max_tokens=5)
    assert isinstance(out.text, str) and np.isfinite(out.avg_logprob)
