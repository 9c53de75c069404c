"""The number format of model weights at inference on the CPU.

A one-sentence query through e5-small reads every weight matrix once: about 84 MB in float32,
more than the CPU's cache, so the time goes into reading memory rather than multiplying.
bfloat16 halves that. It is only worth it where the CPU computes bfloat16 natively
(AVX512-BF16 or AMX, as on the 2026-11-30 machine the numbers in IntentConfig come from);
elsewhere PyTorch emulates it and is slower than float32. "auto" decides by the CPU.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16")


@cache
def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (oneDNN's own check)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or a renamed check
        return False


def inference_dtype(name: str) -> Any:
    """The torch dtype for ``name`` (one of ``DTYPES``)."""
    import torch

    if name not in DTYPES:
        raise ParlaError(f"dtype {name!r}: use one of {', '.join(DTYPES)}")
    if name == "auto":
        return torch.bfloat16 if native_bfloat16() else torch.float32
    return getattr(torch, name)
