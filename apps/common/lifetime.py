"""A process that dies with its parent: the worker's job children, and each of their ranks under ``torchrun``.

No Django here: ``python -m workers.child`` calls ``die_with_parent`` before it sets Django up, and the
worker passes it as ``preexec_fn``, which runs between fork and exec.
"""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1
# Looked up at import, before any fork: what runs between fork and exec must not need the loader.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux): between fork and exec, or at start."""
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
