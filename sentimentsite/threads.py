"""How many threads PyTorch uses in each process, set before torch is first imported."""

from __future__ import annotations

import os

from sentimentsite.env import env_int

# The thread-pool sizes torch (and the BLAS and OpenMP libraries under it) read when first imported.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def torch_threads_bound(*, processes: int) -> int:
    """Give each of ``processes`` processes its share of this machine's cores, or ``TORCH_THREADS`` when set.

    Left alone, every process's torch starts one thread per core: eight gunicorn workers on eight cores
    would run 64 threads fighting for them. It works through the environment, so the web process need
    not import torch to bound it, and a child process (a training run) inherits the bound.
    """
    cores = len(os.sched_getaffinity(0))
    threads = env_int("TORCH_THREADS", 0) or max(1, cores // max(1, processes))
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    return threads
