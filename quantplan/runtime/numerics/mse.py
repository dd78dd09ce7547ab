"""The `mse` range calculator: per-block clipping with the least squared fake-quant error.

For every block it tries the clipped ranges `(lo * r, hi * r)` for the ratios
r = 1.00, 0.99, ..., 0.20 (81 ratios, step 0.01, as float32), fake-quantizes the block with
the qparams of each, and keeps the range with the least sum of squared errors. Ratio 1.00 is
the minmax range and comes first, and a later ratio must be strictly better to replace it,
so `mse` never has a larger error than `minmax` on any block.

The search is vectorized over blocks: each ratio costs one fake-quant pass over the tensor.
The tensor is searched in chunks of about 2^18 elements along its first dimension, so that
the 81 passes run on cache-resident data. A tensor with a single block along its first
dimension (per-tensor, or per-channel on axis 1) is searched in one piece. Blocks whose
data contain NaN or inf keep the minmax range, because their error is NaN.
"""

from __future__ import annotations

import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.numerics.blocks import scale_view_shape
from quantplan.runtime.numerics.codes import BlockParams, float_codes, values_from_codes
from quantplan.runtime.numerics.ranges import BlockRange, reduce_dims
from quantplan.runtime.numerics.scales import qparams_from_range

__all__ = ["CLIPPING_RATIOS", "mse_range"]

CLIPPING_RATIOS = tuple(1.0 - step / 100 for step in range(81))
CHUNK_ELEMENTS = 2**18


def mse_range(blocks: torch.Tensor, minmax: BlockRange, spec: QuantizationSpec) -> BlockRange:
    """Return the clipped range of every block with the least squared fake-quant error.

    `blocks` is a `to_blocks` view in the arithmetic dtype; `minmax` is its minmax range.
    """
    rows = max(1, CHUNK_ELEMENTS * blocks.shape[0] // max(blocks.numel(), 1))
    chunks = [
        _search(part, BlockRange(lo, hi), spec)
        for part, lo, hi in zip(
            blocks.split(rows), minmax.lo.split(rows), minmax.hi.split(rows), strict=True
        )
    ]
    best_lo = torch.cat([lo for lo, _ in chunks])
    best_hi = torch.cat([hi for _, hi in chunks])
    return BlockRange(best_lo, best_hi, minmax.nonfinite)


def _search(
    blocks: torch.Tensor, minmax: BlockRange, spec: QuantizationSpec
) -> tuple[torch.Tensor, torch.Tensor]:
    data = blocks.to(torch.float32)
    dims = reduce_dims(blocks)
    best_lo, best_hi = minmax.lo, minmax.hi
    best_error = _squared_error(data, dims, minmax.lo, minmax.hi, spec)
    for ratio in CLIPPING_RATIOS[1:]:
        factor = torch.tensor(ratio, dtype=torch.float32).to(minmax.lo.dtype)
        lo, hi = minmax.lo * factor, minmax.hi * factor
        error = _squared_error(data, dims, lo, hi, spec)
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best_lo = torch.where(better, lo, best_lo)
        best_hi = torch.where(better, hi, best_hi)
    return best_lo, best_hi


def _squared_error(
    data: torch.Tensor,
    dims: tuple[int, ...],
    lo: torch.Tensor,
    hi: torch.Tensor,
    spec: QuantizationSpec,
) -> torch.Tensor:
    qparams = qparams_from_range(lo, hi, spec)
    params = BlockParams.for_grid(qparams, spec, scale_view_shape(tuple(lo.shape)))
    values = values_from_codes(float_codes(data, params, spec), params, spec)
    values.sub_(data).square_()
    return values.sum(dim=dims)
