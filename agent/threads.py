"""One BLAS thread per process.

numpy's and FAISS's OpenBLAS only do small products here (one question's vector against an
index, Whisper's mel filters for one utterance), which one thread does in microseconds. Left at
a thread per core, their idle threads keep the cores from the threads of torch and CTranslate2
that do the real work right after (measured on 2 cores: text turn p50 143 -> 86 ms and p95
213 -> 130 ms; faster-whisper on a 3 s turn 0.185 -> 0.135 s). Only libraries already loaded
are limited, so each stage calls this once its own libraries are imported.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def one_blas_thread() -> None:
    import torch

    threads = torch.get_num_threads()
    threadpool_limits(1, user_api="blas")
    # FAISS's OpenBLAS is built on OpenMP, and limiting it can reach the OpenMP runtime torch
    # loaded first (threadpoolctl then reports torch's at one thread): torch keeps its count.
    torch.set_num_threads(threads)
