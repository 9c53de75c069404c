"""The real offline bundle (slow): e5 finds the right text across languages, Whisper hears JFK."""

import jiwer
import numpy as np
import pytest

from agent.models import ModelSpec
from tests.conftest import shared_path

pytestmark = pytest.mark.slow

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
SUPPORT_TEXTS = [
    "To reset your password, click 'Forgot password' on the sign-in page "
    "and follow the emailed link.",
    "Returns are free within 30 days of delivery if the product is complete.",
    "Standard delivery takes 3 to 5 business days and costs 4.99 euros.",
    "We accept Visa, Mastercard, PayPal and bank transfer.",
]
RESET_PASSWORD = [
    "reset my password",
    "restablecer mi contraseña",
    "Passwort zurücksetzen",
    "réinitialiser mon mot de passe",
    "重置我的密码",
]


def normalised_wer(hypothesis: str) -> float:
    clean = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return jiwer.wer(JFK, hypothesis, reference_transform=clean, hypothesis_transform=clean)


def test_e5_finds_the_password_text_in_five_languages():
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(ModelSpec("bundle:e5-small").resolve()), device="cpu")
    docs = model.encode(SUPPORT_TEXTS, prompt_name="passage", normalize_embeddings=True)
    queries = model.encode(RESET_PASSWORD, prompt_name="query", normalize_embeddings=True)
    assert list(np.argmax(queries @ docs.T, axis=1)) == [0] * len(RESET_PASSWORD)


def test_faster_whisper_transcribes_jfk():
    from faster_whisper import WhisperModel

    audio = shared_path("audio", "jfk.flac")
    model = WhisperModel(
        str(ModelSpec("bundle:whisper-base").resolve()),
        device="cpu",
        compute_type="int8",
        cpu_threads=2,
    )
    segments, info = model.transcribe(str(audio), beam_size=5)
    text = "".join(s.text for s in segments)
    assert info.language == "en"
    assert normalised_wer(text) <= 0.10, text


def test_openai_whisper_transcribes_jfk_with_converted_weights():
    import whisper

    audio = shared_path("audio", "jfk.flac")
    folder = ModelSpec("bundle:whisper-base-openai").resolve()
    model = whisper.load_model(str(folder / "base.pt"), device="cpu")
    result = model.transcribe(str(audio), fp16=False, beam_size=5)
    assert result["language"] == "en"
    assert normalised_wer(result["text"]) <= 0.10, result["text"]
