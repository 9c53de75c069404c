"""Thread settings for the whole process: one BLAS thread, and OpenMP threads that wait
passively (``passive_openmp``).

One BLAS thread (``one_blas_thread``): numpy's and FAISS's OpenBLAS only do small products here
(one question's vector against an index, Whisper's mel filters for one utterance), which one
thread does in microseconds. Left at a thread per core, their idle threads keep the cores from
the threads of torch and CTranslate2 that do the real work right after (measured on 2 cores:
text turn p50 143 -> 86 ms and p95 213 -> 130 ms; faster-whisper on a 3 s turn 0.185 -> 0.135
s). Only libraries already loaded are limited, so each stage calls this once its own libraries
are imported.
"""

from __future__ import annotations

import logging
import os
import sys

from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)


def one_blas_thread() -> None:
    import torch

    threads = torch.get_num_threads()
    threadpool_limits(1, user_api="blas")
    # FAISS's OpenBLAS is built on OpenMP, and limiting it can reach the OpenMP runtime torch
    # loaded first (threadpoolctl then reports torch's at one thread): torch keeps its count.
    torch.set_num_threads(threads)


def passive_openmp() -> None:
    """OpenMP threads sleep, rather than spin, while they wait for work: call before torch loads.

    Measured on 2 cores (intent fine-tuning on the demo data; text turn p50 through the agent):
    idle machine, passive 138 s and 110-123 ms against 120 s and 86-90 ms spinning; with one
    core busy elsewhere, passive 218 s and 142 ms against 372 s and 293 ms spinning. A server
    shares its cores, so Parla takes the policy that degrades least. The environment wins
    when it sets ``OMP_WAIT_POLICY`` itself.
    """
    if "torch" in sys.modules:
        logger.warning("OMP_WAIT_POLICY set after torch loaded: it has no effect")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
