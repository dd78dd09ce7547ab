"""`KernelChoice`: which kernel runs one quantized op, recorded in the artifact."""

from __future__ import annotations

import attrs

__all__ = ["KernelChoice"]


@attrs.frozen
class KernelChoice:
    """The kernel picked for one tensor at apply time.

    `native` is False for emulated paths that dequantize the weight and run a float matmul.
    `reason` says why a faster kernel was not used (empty when the preferred kernel runs).
    `crossover_m` is the row count (product of the input's leading dimensions) above which
    the op runs the kernel named `above_crossover` instead, or None when it never switches.
    """

    name: str
    native: bool
    reason: str = ""
    crossover_m: int | None = None
    above_crossover: str | None = None

    def to_json(self) -> dict:
        """Return the JSON record stored in the artifact metadata."""
        return attrs.asdict(self)
