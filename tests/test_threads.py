"""agent.threads: the BLAS libraries loaded so far run one thread."""

import os

import numpy as np
from threadpoolctl import threadpool_info

from agent.threads import one_blas_thread


def test_every_loaded_blas_library_gets_one_thread():
    import faiss  # noqa: F401  (its own OpenBLAS)

    one_blas_thread()
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    assert blas and all(i["num_threads"] == 1 for i in blas)
    a = np.ones((64, 64), dtype=np.float32)
    assert float((a @ a)[0, 0]) == 64.0  # still computes


def test_torch_keeps_its_thread_count():
    import torch

    before = torch.get_num_threads()
    one_blas_thread()
    assert torch.get_num_threads() == before


def test_openmp_waits_passively_unless_the_environment_says_otherwise(monkeypatch, caplog):
    import torch  # noqa: F401  (loaded: the policy comes too late for this process)

    from agent.threads import passive_openmp

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert "after torch loaded" in caplog.text
