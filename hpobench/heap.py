"""The process heap: keep what XLA frees, so training steps do not page-fault it back in."""

from __future__ import annotations

import ctypes
import os


def keep_freed_memory() -> bool:
    """Keep freed memory in the process's heap instead of returning it to the OS (glibc only).

    XLA:CPU allocates a step's temporaries afresh on every call (~200 MB for ResNet-20 at 32 px);
    glibc serves them by mmap and unmaps them on free, so every step page-faults them back in:
    50k faults and ~120 ms of kernel time per 360-ms step (measured with getrusage). One arena
    without mmap or trimming reuses the same pages (0 faults per step). Called on import, before
    JAX starts its threads, which would otherwise get arenas of their own: hence on importing
    hpobench (an earlier JAX computation costs the saving: 450 instead of 630 img/s).

    Only for the oneDNN kernels (not with `HPOBENCH_ONEDNN=0`): XLA's own lowering runs many
    small fusions whose allocations then contend for the one arena, -25% img/s at 8 px. Not where
    JAX will find an accelerator (`env.accelerator_expected`)."""
    from hpobench import env
    if os.environ.get("HPOBENCH_ONEDNN", "1") == "0" or env.accelerator_expected():
        return False  # a GPU's step does not allocate on the host heap; the kernels are CPU-only
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max, m_arena_max = -1, -4, -8
    return all((mallopt(m_arena_max, 1), mallopt(m_mmap_max, 0), mallopt(m_trim_threshold, 2**31 - 1)))
