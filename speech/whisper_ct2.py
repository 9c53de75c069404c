"""The ``faster-whisper`` engine: Whisper on CTranslate2 (int8 on CPU, float16 on a GPU).

faster-whisper's own ``transcribe()`` always pads to a 30-second window; a short customer turn
then costs a full window of encoder time. This engine drives the CTranslate2 model directly
with a window as long as the speech (CTranslate2 encodes any number of frames up to 3,000), and
takes only the model, the feature extractor and the tokenizer from faster-whisper.

Encoding one window is a few large matrix products, which every core speeds up; decoding is
one small step a token, where a second thread costs more in hand-offs than it computes. So on
the CPU a second copy of the model, on ``decode_threads`` threads, identifies the language and
decodes what the first encoded (measured on 2 cores, see ``ASRConfig.decode_threads``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from agent.config import ASRConfig
from agent.errors import ParlaError
from agent.models import ModelSpec
from speech.asr import Decoded, resolve_threads

logger = logging.getLogger(__name__)

HOP = 160  # samples per mel frame at 16 kHz


class CTranslate2Whisper:
    """A loaded faster-whisper ``WhisperModel`` driven window by window."""

    name = "faster-whisper"

    def __init__(self, model: Any, beam_size: int = 1, decoder: Any = None) -> None:
        self.model = model.model  # ctranslate2.models.Whisper: encodes
        self.decoder = decoder if decoder is not None else self.model  # decodes
        self.features = model.feature_extractor
        self.tokenizer = model.hf_tokenizer
        self.beam_size = beam_size
        self._lang_ids = {
            self.tokenizer.id_to_token(i)[2:-2]: i
            for i in range(self.tokenizer.get_vocab_size())
            if _is_language_token(self.tokenizer.id_to_token(i))
        }

    def encode(self, samples: np.ndarray, window_s: float) -> Any:
        import ctranslate2

        frames = int(round(window_s * 100))
        padding = max(HOP, frames * HOP - samples.size + HOP)
        mel = self.features(samples.astype(np.float32), padding=padding)[:, :frames]
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
        return self.model.encode(batch, to_cpu=False)

    def language_probs(self, encoded: Any) -> dict[str, float]:
        if not self.model.is_multilingual:
            return {"en": 1.0}
        ranked = self.decoder.detect_language(encoded)[0]
        return {token[2:-2]: float(prob) for token, prob in ranked}

    def decode(
        self,
        encoded: Any,
        language: str,
        max_tokens: int,
        temperature: float = 0.0,
        prompt: str = "",
    ) -> Decoded:
        sampling = {"sampling_temperature": temperature, "sampling_topk": 0} if temperature else {}
        result = self.decoder.generate(
            encoded,
            [self._prompt(language, prompt)],
            beam_size=1 if temperature else self.beam_size,
            **sampling,
            max_length=min(max_tokens, 224),  # Whisper's decoder holds 448: half for text
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
        )[0]
        limit = min(max_tokens, 224)
        tokens = [t for t in result.sequences_ids[0] if t < self._eot()]
        return Decoded(
            text=self.tokenizer.decode(tokens).strip(),
            avg_logprob=float(result.scores[0]) if result.scores else 0.0,
            no_speech_prob=float(result.no_speech_prob),
            truncated=len(result.sequences_ids[0]) >= limit - 1,
        )

    def _prompt(self, language: str, previous: str = "") -> list[int]:
        t = self.tokenizer
        prompt = []
        if previous:
            prompt = [t.token_to_id("<|startofprev|>")]
            prompt += t.encode(" " + previous.strip(), add_special_tokens=False).ids
        prompt.append(t.token_to_id("<|startoftranscript|>"))
        if self.model.is_multilingual:
            if language not in self._lang_ids:
                raise ParlaError(f"Whisper does not know the language {language!r}")
            prompt += [self._lang_ids[language], t.token_to_id("<|transcribe|>")]
        return prompt + [t.token_to_id("<|notimestamps|>")]

    def _eot(self) -> int:
        return int(self.tokenizer.token_to_id("<|endoftext|>"))


def _is_language_token(token: str | None) -> bool:
    if not token or not token.startswith("<|") or not token.endswith("|>"):
        return False
    code = token[2:-2]
    return 2 <= len(code) <= 3 and code.isalpha() and code.islower()


def pick_device(config: ASRConfig) -> tuple[str, str]:
    """(device, compute type): float16 on a GPU that CTranslate2 sees, the CPU type otherwise."""
    if config.device == "cpu":
        return "cpu", config.compute_type
    import ctranslate2

    has_gpu = ctranslate2.get_cuda_device_count() > 0
    if config.device == "cuda" and not has_gpu:
        raise ParlaError("asr.device is cuda but CTranslate2 sees no GPU: set asr.device=cpu")
    return ("cuda", config.gpu_compute_type) if has_gpu else ("cpu", config.compute_type)


def model_location(name: str) -> str:
    """A local folder for bundle names and paths; other names go to faster-whisper as is."""
    if name.startswith("bundle:") or Path(name).expanduser().exists():
        return str(ModelSpec(name).resolve())
    return name  # "small", "Systran/faster-whisper-small": faster-whisper downloads it


def load_engine(config: ASRConfig) -> CTranslate2Whisper:
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise ParlaError("faster-whisper is not installed: pip install faster-whisper") from None
    device, compute_type = pick_device(config)
    location = model_location(config.model)
    threads = resolve_threads(config)
    logger.info("loading Whisper %s (faster-whisper, %s %s)", config.model, device, compute_type)

    def load(cpu_threads: int) -> Any:
        return WhisperModel(
            location, device=device, compute_type=compute_type, cpu_threads=cpu_threads
        )

    try:
        model = load(threads)
        second_copy = device == "cpu" and 0 < config.decode_threads != threads
        decoder = load(config.decode_threads).model if second_copy else None
    except Exception as exc:  # noqa: BLE001 - a missing model, a hub failure: one message
        raise ParlaError(
            f"cannot load Whisper model {config.model!r} with faster-whisper "
            f"({type(exc).__name__}: {str(exc)[:120]}); offline, use bundle:whisper-base "
            "or a local CTranslate2 folder"
        ) from None
    return CTranslate2Whisper(model, beam_size=config.beam_size, decoder=decoder)
