"""speech.tts_coqui: the optional Coqui engine, its loading path and its missing-extra error."""

import json
import sys
import types

import numpy as np
import pytest

from agent.errors import ParlaError
from speech.tts import VoiceSpec
from speech.tts_coqui import load_voice, model_files


def _model_dir(tmp_path):
    (tmp_path / "model.pth").write_bytes(b"weights")
    (tmp_path / "config.json").write_text(json.dumps({"model": "vits"}))
    return tmp_path


def test_missing_extra_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "TTS", None)  # as if coqui-tts were not installed
    monkeypatch.setitem(sys.modules, "TTS.utils", None)
    monkeypatch.setitem(sys.modules, "TTS.utils.synthesizer", None)
    with pytest.raises(ParlaError, match="optional extra `coqui`"):
        load_voice(VoiceSpec.parse(f"coqui:{_model_dir(tmp_path)}", "en"), "en")


def test_loading_and_synthesis_path_with_a_stand_in_package(tmp_path, monkeypatch):
    calls = {}

    class Synthesizer:
        output_sample_rate = 16_000

        def __init__(self, tts_checkpoint, tts_config_path):
            calls["files"] = (tts_checkpoint, tts_config_path)

        def tts(self, text, split_sentences=True, **kwargs):
            calls["tts"] = (text, split_sentences, kwargs)
            return [0.0, 0.5, -0.5]

    module = types.ModuleType("TTS.utils.synthesizer")
    module.Synthesizer = Synthesizer
    monkeypatch.setitem(sys.modules, "TTS", types.ModuleType("TTS"))
    monkeypatch.setitem(sys.modules, "TTS.utils", types.ModuleType("TTS.utils"))
    monkeypatch.setitem(sys.modules, "TTS.utils.synthesizer", module)
    folder = _model_dir(tmp_path)
    voice = load_voice(VoiceSpec.parse(f"coqui:{folder}?speaker=p225", "en"), "en")
    samples = voice.speak("Hello.")
    assert calls["files"] == (str(folder / "model.pth"), str(folder / "config.json"))
    assert calls["tts"] == ("Hello.", False, {"speaker_name": "p225"})
    assert samples.dtype == np.float32 and voice.sample_rate == 16_000


def test_model_folder_errors(tmp_path):
    with pytest.raises(ParlaError, match="exactly one Coqui .pth"):
        model_files(str(tmp_path))
    (tmp_path / "model.pth").write_bytes(b"x")
    with pytest.raises(ParlaError, match="no config.json"):
        model_files(str(tmp_path))


def _coqui_importable() -> bool:
    try:
        import TTS.tts.models.vits  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure means the same: the extra cannot run here
        return False
    return True


@pytest.mark.skipif(
    not _coqui_importable(),
    reason="coqui-tts does not import here: not installed, or installed but without the "
    "torchaudio/torchcodec it requires, which PyPI does not build for torch 2.13",
)
def test_tiny_vits_model_built_in_the_test(tmp_path):
    import torch
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    args = VitsArgs(
        hidden_channels=16,
        hidden_channels_ffn_text_encoder=32,
        num_heads_text_encoder=2,
        num_layers_text_encoder=1,
        num_layers_flow=1,
        num_layers_posterior_encoder=1,
        resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 3]],
        upsample_rates_decoder=[8, 8, 4],
        upsample_initial_channel_decoder=32,
        upsample_kernel_sizes_decoder=[16, 16, 8],
    )
    config = VitsConfig(model_args=args, use_phonemes=False, text_cleaner="basic_cleaners")
    model = Vits.init_from_config(config)
    torch.save({"model": model.state_dict()}, tmp_path / "model.pth")
    config.save_json(str(tmp_path / "config.json"))
    voice = load_voice(VoiceSpec.parse(f"coqui:{tmp_path}", "en"), "en")
    samples = voice.speak("hello world")
    assert samples.ndim == 1 and samples.size > 0
