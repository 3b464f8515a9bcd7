"""Give freed memory back to the operating system between large steps."""

from __future__ import annotations

import gc


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
