"""The ``openai-whisper`` engine: the reference PyTorch Whisper, with variable-length windows.

openai-whisper's encoder asserts a 30-second input (1,500 positions). ``ShortContextEncoder``
wraps the loaded encoder and adds only the first N rows of its sinusoidal positional embedding,
so a 4-second window costs a 4-second encoder pass; the decoder cross-attends to whatever
length it is given. The wrapper also remembers its last output, so language ID and decoding
share one encoder pass (openai-whisper calls the encoder in both).
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

BUNDLE_ALIASES = {"bundle:whisper-base": "bundle:whisper-base-openai"}  # same weights, converted


def _short_context_encoder(encoder: Any) -> Any:
    import torch
    import torch.nn.functional as F

    class ShortContextEncoder(torch.nn.Module):
        """openai-whisper's AudioEncoder, for any number of frames up to 3,000."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self._last: tuple[Any, Any] | None = None

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            if self._last is not None and self._last[0] is mel:
                return self._last[1]
            e = self.inner
            x = F.gelu(e.conv1(mel))
            x = F.gelu(e.conv2(x)).permute(0, 2, 1)
            x = (x + e.positional_embedding[: x.shape[1]]).to(x.dtype)
            for block in e.blocks:
                x = block(x)
            x = e.ln_post(x)
            self._last = (mel, x)
            return x

    return ShortContextEncoder(encoder)


class TorchWhisper:
    """A loaded ``whisper.Whisper`` model decoded window by window."""

    name = "openai-whisper"

    def __init__(self, model: Any, beam_size: int = 1) -> None:
        import whisper

        self.whisper = whisper
        self.model = model
        self.model.encoder = _short_context_encoder(model.encoder)
        self.beam_size = beam_size
        self.fp16 = next(model.parameters()).device.type == "cuda"

    def encode(self, samples: np.ndarray, window_s: float) -> Any:
        import torch

        frames = int(round(window_s * 100))
        padded = np.zeros(frames * 160, dtype=np.float32)
        n = min(samples.size, padded.size)
        padded[:n] = samples[:n]
        device = next(self.model.parameters()).device
        mel = self.whisper.log_mel_spectrogram(
            torch.from_numpy(padded), self.model.dims.n_mels, device=device
        )[None, :, :frames]
        if self.fp16:
            mel = mel.half()
        with torch.inference_mode():
            self.model.encoder(mel)  # cached for language ID and decoding
        return mel

    def language_probs(self, encoded: Any) -> dict[str, float]:
        import torch

        if not self.model.is_multilingual:
            return {"en": 1.0}
        with torch.inference_mode():
            _, probs = self.whisper.detect_language(self.model, encoded)
        return {code: float(p) for code, p in probs[0].items()}

    def decode(
        self,
        encoded: Any,
        language: str,
        max_tokens: int,
        temperature: float = 0.0,
        prompt: str = "",
    ) -> Decoded:
        import torch

        options = self.whisper.DecodingOptions(
            language=language if self.model.is_multilingual else "en",
            without_timestamps=True,
            temperature=temperature,
            prompt=prompt or None,
            beam_size=self.beam_size if self.beam_size > 1 and not temperature else None,
            sample_len=min(max_tokens, 224),
            fp16=self.fp16,
        )
        with torch.inference_mode():
            result = self.whisper.decode(self.model, encoded, options)[0]
        return Decoded(
            result.text.strip(),
            float(result.avg_logprob),
            float(result.no_speech_prob),
            truncated=len(result.tokens) >= options.sample_len - 1,
        )


def checkpoint_for(name: str) -> str:
    """A checkpoint path for bundle names and paths; an openai-whisper model name otherwise."""
    name = BUNDLE_ALIASES.get(name, name)
    if name.startswith("bundle:") or Path(name).expanduser().exists():
        path = ModelSpec(name).resolve()
        if path.is_dir():
            found = sorted(path.glob("*.pt"))
            if len(found) != 1:
                raise ParlaError(f"{path} should hold exactly one openai-whisper .pt checkpoint")
            path = found[0]
        return str(path)
    return name  # "base", "small": openai-whisper downloads it


def load_engine(config: ASRConfig) -> TorchWhisper:
    try:
        import torch
        import whisper
    except ImportError:
        raise ParlaError(
            "openai-whisper is not installed: pip install --no-deps openai-whisper==20250625 "
            "(scripts/install.sh does it)"
        ) from None
    torch.set_num_threads(resolve_threads(config))
    use_cuda = config.device in ("cuda", "auto") and torch.cuda.is_available()
    if config.device == "cuda" and not use_cuda:
        raise ParlaError("asr.device is cuda but torch sees no GPU: set asr.device=cpu")
    location = checkpoint_for(config.model)
    logger.info("loading Whisper %s (openai-whisper, %s)", location, "cuda" if use_cuda else "cpu")
    try:
        model = whisper.load_model(location, device="cuda" if use_cuda else "cpu")
    except Exception as exc:  # noqa: BLE001 - a missing model, a failed download: one message
        raise ParlaError(
            f"cannot load Whisper model {config.model!r} with openai-whisper "
            f"({type(exc).__name__}: {str(exc)[:120]}); offline, use bundle:whisper-base "
            "or a local .pt checkpoint"
        ) from None
    return TorchWhisper(model.eval(), beam_size=config.beam_size)
