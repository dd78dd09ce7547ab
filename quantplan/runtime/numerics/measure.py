"""Measure the per-block range of one tensor with the spec's range calculator (minmax or mse)."""

from __future__ import annotations

import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.numerics.blocks import to_blocks
from quantplan.runtime.numerics.mse import mse_range
from quantplan.runtime.numerics.ranges import BlockRange, arithmetic_dtype, block_minmax

__all__ = ["measure_range"]


def measure_range(
    x: torch.Tensor,
    spec: QuantizationSpec,
    block: tuple[int, ...],
    *,
    role: str,
    name: str | None = None,
) -> BlockRange:
    """Return the range of every block of `x`, before `float_range` applies.

    Weights must be finite (PlanError naming the tensor otherwise); activations ignore NaN.
    """
    blocks = to_blocks(x.to(arithmetic_dtype(x.dtype)), block)
    minmax = block_minmax(blocks, allow_nonfinite=role != "weight", name=name)
    if spec.range_calculator_cls == "mse":
        return mse_range(blocks, minmax, spec)
    return minmax
