"""speech.whisper_ct2: the CTranslate2 engine's windows, prompts and sampling, on a fake model."""

from types import SimpleNamespace

import numpy as np
import pytest

from agent.config import ASRConfig
from agent.errors import ParlaError

pytest.importorskip("faster_whisper")
from faster_whisper.feature_extractor import FeatureExtractor  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenizers.models import WordLevel  # noqa: E402
from tokenizers.pre_tokenizers import WhitespaceSplit  # noqa: E402

from speech import whisper_ct2  # noqa: E402
from speech.whisper_ct2 import CTranslate2Whisper  # noqa: E402

WORDS = ["hallo", "welt", "以下是普通话的句子。"]
SPECIALS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|de|>",
    "<|zh|>",
    "<|transcribe|>",
    "<|notimestamps|>",
    "<|startofprev|>",
]


def _tokenizer() -> Tokenizer:
    vocab = {w: i for i, w in enumerate(WORDS + SPECIALS)}
    tok = Tokenizer(WordLevel(vocab, unk_token="hallo"))
    tok.pre_tokenizer = WhitespaceSplit()
    return tok


class FakeCT2:
    is_multilingual = True

    def __init__(self):
        self.encoded_shapes, self.generate_calls = [], []

    def encode(self, features, to_cpu=False):
        self.encoded_shapes.append(tuple(features.shape))
        return "encoded"

    def detect_language(self, encoded):
        return [[("<|de|>", 0.6), ("<|en|>", 0.3), ("<|zh|>", 0.1)]]

    def generate(self, encoded, prompts, **kwargs):
        self.generate_calls.append((prompts, kwargs))
        return [SimpleNamespace(sequences_ids=[[0, 1, 3]], scores=[-0.25], no_speech_prob=0.05)]


@pytest.fixture
def engine():
    fake = SimpleNamespace(
        model=FakeCT2(),
        feature_extractor=FeatureExtractor(feature_size=80),
        hf_tokenizer=_tokenizer(),
    )
    return CTranslate2Whisper(fake, beam_size=1)


def _id(tok: str) -> int:
    return (WORDS + SPECIALS).index(tok)


def test_window_is_as_long_as_asked(engine):
    engine.encode(np.zeros(3 * 16_000, dtype=np.float32), 4.0)
    engine.encode(np.zeros(3 * 16_000, dtype=np.float32), 30.0)
    assert engine.model.encoded_shapes == [(1, 80, 400), (1, 80, 3000)]


def test_language_probabilities_by_iso_code(engine):
    assert engine.language_probs("encoded") == {"de": 0.6, "en": 0.3, "zh": 0.1}


def test_decode_prompt_text_and_scores(engine):
    out = engine.decode("encoded", "de", max_tokens=50)
    prompts, kwargs = engine.model.generate_calls[0]
    assert prompts == [
        [
            _id("<|startoftranscript|>"),
            _id("<|de|>"),
            _id("<|transcribe|>"),
            _id("<|notimestamps|>"),
        ]
    ]
    assert kwargs["beam_size"] == 1 and kwargs["max_length"] == 50
    assert "sampling_temperature" not in kwargs
    assert out.text == "hallo welt"  # special tokens (id 3 = end of text) are dropped
    assert (out.avg_logprob, out.no_speech_prob, out.truncated) == (-0.25, 0.05, False)


def test_previous_text_prompt_and_sampling(engine):
    engine.decode("encoded", "zh", max_tokens=500, temperature=0.4, prompt="以下是普通话的句子。")
    prompts, kwargs = engine.model.generate_calls[0]
    assert prompts[0][:3] == [
        _id("<|startofprev|>"),
        _id("以下是普通话的句子。"),
        _id("<|startoftranscript|>"),
    ]
    assert kwargs["sampling_temperature"] == 0.4 and kwargs["sampling_topk"] == 0
    assert kwargs["max_length"] == 224  # Whisper's decoder holds 448 tokens, half for text


def test_unknown_language_is_a_clear_error(engine):
    with pytest.raises(ParlaError, match="does not know the language 'xx'"):
        engine.decode("encoded", "xx", max_tokens=5)


def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    with pytest.raises(ParlaError, match="sees no GPU"):
        whisper_ct2.pick_device(ASRConfig(device="cuda"))
    assert whisper_ct2.pick_device(ASRConfig()) == ("cpu", "int8")


def test_gpu_uses_float16(monkeypatch):
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    assert whisper_ct2.pick_device(ASRConfig()) == ("cuda", "float16")


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ParlaError, match="cannot load Whisper model"):
        whisper_ct2.load_engine(ASRConfig(model=str(tmp_path), device="cpu"))


def test_a_second_model_decodes_what_the_first_encoded():
    encoder, decoder = FakeCT2(), FakeCT2()
    fake = SimpleNamespace(
        model=encoder,
        feature_extractor=FeatureExtractor(feature_size=80),
        hf_tokenizer=_tokenizer(),
    )
    engine = CTranslate2Whisper(fake, beam_size=1, decoder=decoder)
    encoded = engine.encode(np.zeros(16_000, dtype=np.float32), 2.0)
    engine.language_probs(encoded)
    engine.decode(encoded, "de", max_tokens=5)
    assert len(encoder.encoded_shapes) == 1 and not encoder.generate_calls
    assert not decoder.encoded_shapes and len(decoder.generate_calls) == 1


@pytest.mark.parametrize(
    ("config", "loaded"),
    [
        (ASRConfig(device="cpu", cpu_threads=2, decode_threads=1), [2, 1]),
        (ASRConfig(device="cpu", cpu_threads=2, decode_threads=2), [2]),
        (ASRConfig(device="cpu", cpu_threads=2, decode_threads=0), [2]),
    ],
)
def test_decoding_threads_differ_only_through_a_second_copy(monkeypatch, tmp_path, config, loaded):
    import faster_whisper

    threads = []

    def fake_model(location, device, compute_type, cpu_threads):
        threads.append(cpu_threads)
        return SimpleNamespace(
            model=FakeCT2(), feature_extractor=FeatureExtractor(80), hf_tokenizer=_tokenizer()
        )

    monkeypatch.setattr(faster_whisper, "WhisperModel", fake_model)
    monkeypatch.setattr(whisper_ct2, "model_location", lambda name: str(tmp_path))
    engine = whisper_ct2.load_engine(config)
    assert threads == loaded
    assert (engine.decoder is engine.model) == (len(loaded) == 1)
