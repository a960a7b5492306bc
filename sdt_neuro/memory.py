"""Process memory policy for long CPU training runs.

glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and
returns it on ``free``, so a tensor of that size created every step (the CNN's 75 MB weight
gradient) page-faults its way in again each time. :func:`keep_freed_memory` makes glibc serve
large blocks from the heap and keep freed memory for reuse, which the Intel PyTorch tuning guide
gets by swapping in jemalloc / tcmalloc. The process's resident size then stays at its peak.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
ENV_SWITCH = "SDT_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory (no-op elsewhere, or with ``SDT_KEEP_FREED_MEMORY=0``).

    Returns whether the policy is in force. The ``sdt-neuro train`` command calls it; a CNN step
    on one thread takes 101 ms with it against 122 ms without (``benchmarks/cnn_step.py``).
    """
    if os.environ.get(ENV_SWITCH, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library already loaded into the process
    except AttributeError:  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
