"""A pool of scratch tensors reused by dequantize paths.

Allocating a fresh 32 MiB tensor costs about 13 ms in page faults on a 2-core VM, so each
dequantized weight is written into a buffer kept per (shape, dtype) and reused by every op of
that shape. The buffers are shared: a dequantized weight is valid only until the next
dequantization of the same shape, which is after the matmul that consumes it.
NOTE: the pool is not thread-safe; concurrent forwards of one model on threads can race.
"""

from __future__ import annotations

import torch

__all__ = ["clear_buffers", "scratch"]

_POOL: dict[tuple, torch.Tensor] = {}


def scratch(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Return the pooled uninitialized buffer for (shape, dtype, device)."""
    key = (tuple(shape), dtype, str(device))
    buffer = _POOL.get(key)
    if buffer is None:
        # A buffer made inside torch.inference_mode() would be an inference tensor, and no
        # in-place write outside that mode may touch it. The pool outlives any one mode.
        with torch.inference_mode(False):
            buffer = torch.empty(shape, dtype=dtype, device=device)
        _POOL[key] = buffer
    return buffer


def clear_buffers() -> None:
    """Drop every pooled buffer (frees the memory)."""
    _POOL.clear()
