"""Give freed memory back to the operating system between large steps."""

from __future__ import annotations

import gc

_frozen = False


def freeze_imports() -> None:
    """Move what exists now out of the garbage collector's sight, once per process.

    Called by the batch process and each worker when their libraries are imported: those
    objects (pandas', pyarrow's, papermill's and nbconvert's modules, some 10⁵–10⁶ of them)
    live as long as the process, yet every full collection walked them all again. Objects made
    later (the cleaned tables, a notebook's outputs) are collected as before. The kernels do
    the same after their warm-up (``engine.WARMUP_CODE``).
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


def release_memory() -> None:
    """Collect garbage, empty Arrow's pool and trim the C heap (glibc only; no-op elsewhere)."""
    gc.collect()
    try:
        import pyarrow

        pyarrow.default_memory_pool().release_unused()  # pandas' strings live in Arrow's pool
    except (ImportError, AttributeError):
        pass
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
