"""Quantize to codes, dequantize codes, and the fused fake-quantization forward.

Integer formats (`zp` formulation): `q = clamp(rne(x / s) + zp, qmin, qmax)` and
`y = (q - zp) * s`. `minval` formulation: `q = clamp(rne((x - m) / s) + qmin, qmin, qmax)`
and `y = (q - qmin) * s + m`. Float formats: `q = round(clamp(x / s, -fmax, fmax))` on the
element grid and `y = q * s`. `x / s` is always a true float32 division, never a
multiplication by 1/s, because that changes integer results.

Non-finite inputs: +/-inf saturates to the end of the range; NaN stays NaN in float outputs.
NOTE: integer codes of NaN inputs are undefined (the float-to-int32 cast of NaN), so callers
must not pass NaN to `quantize_codes` for integer formats.
"""

from __future__ import annotations

import attrs
import torch

from quantplan.quantization.spec import QFormulation, QuantizationSpec
from quantplan.runtime.numerics.blocks import grid_shape, scale_view_shape, to_blocks
from quantplan.runtime.numerics.grids import round_to_element
from quantplan.runtime.numerics.results import QParams

__all__ = ["BlockParams", "dequantize_codes", "fake_quantize_blocks", "quantize_codes"]


@attrs.frozen(eq=False)
class BlockParams:
    """Qparams reshaped to broadcast over a `to_blocks` view, in float32."""

    scale: torch.Tensor
    offset: torch.Tensor | float
    minval: torch.Tensor | None

    @classmethod
    def build(
        cls,
        qparams: QParams,
        spec: QuantizationSpec,
        shape: tuple[int, ...],
        block: tuple[int, ...],
    ) -> BlockParams:
        """Reshape `qparams` for a tensor of `shape` split into blocks of `block`."""
        return cls.for_grid(qparams, spec, scale_view_shape(grid_shape(shape, block)))

    @classmethod
    def for_grid(
        cls, qparams: QParams, spec: QuantizationSpec, view: tuple[int, ...]
    ) -> BlockParams:
        """Reshape `qparams` to `view`, the shape from `scale_view_shape`."""
        scale = qparams.scale.to(torch.float32).reshape(view)
        if spec.is_float:
            return cls(scale, 0.0, None)
        if spec.qformulation is QFormulation.MINVAL:
            return cls(scale, float(spec.quant_min), qparams.minval.to(torch.float32).reshape(view))  # type: ignore[union-attr]
        return cls(scale, qparams.zero_point.to(torch.float32).reshape(view), None)  # type: ignore[union-attr]


def unclamped_codes(
    blocks: torch.Tensor, params: BlockParams, spec: QuantizationSpec
) -> torch.Tensor:
    """Return rne(x / s) + zp (integers) or x / s (float formats), before saturation."""
    if spec.is_float:
        return blocks / params.scale
    shifted = blocks if params.minval is None else blocks - params.minval
    codes = shifted / params.scale
    codes.round_()
    return codes.add_(params.offset)


def float_codes(blocks: torch.Tensor, params: BlockParams, spec: QuantizationSpec) -> torch.Tensor:
    """Return the saturated codes as float32: integers, or values on the fp8/fp4 grid."""
    codes = unclamped_codes(blocks, params, spec)
    codes.clamp_(spec.quant_min, spec.quant_max)
    if spec.is_float:
        return round_to_element(codes, spec.element)
    return codes


def values_from_codes(
    codes: torch.Tensor, params: BlockParams, spec: QuantizationSpec
) -> torch.Tensor:
    """Map float32 codes back to float32 values, in place."""
    if spec.is_float:
        return codes.mul_(params.scale)
    codes.sub_(params.offset).mul_(params.scale)
    return codes if params.minval is None else codes.add_(params.minval)


def fake_quantize_blocks(
    x: torch.Tensor, qparams: QParams, spec: QuantizationSpec, block: tuple[int, ...]
) -> torch.Tensor:
    """Return dequantize(quantize(x)) in x's dtype, without autograd bookkeeping."""
    shape = tuple(x.shape)
    params = BlockParams.build(qparams, spec, shape, block)
    blocks = to_blocks(x.to(torch.float32), block)
    values = values_from_codes(float_codes(blocks, params, spec), params, spec)
    return values.reshape(shape).to(x.dtype)


def quantize_codes(
    x: torch.Tensor, qparams: QParams, spec: QuantizationSpec, block_shape: tuple[int, ...]
) -> torch.Tensor:
    """Quantize `x` to int32 codes (integer formats) or float32 grid values (fp8, fp4)."""
    block = tuple(block_shape)
    shape = tuple(x.shape)
    params = BlockParams.build(qparams, spec, shape, block)
    codes = float_codes(to_blocks(x.to(torch.float32), block), params, spec).reshape(shape)
    return codes if spec.is_float else codes.to(torch.int32)


def dequantize_codes(
    codes: torch.Tensor,
    qparams: QParams,
    spec: QuantizationSpec,
    block_shape: tuple[int, ...],
    dtype: torch.dtype,
) -> torch.Tensor:
    """Map codes from `quantize_codes` back to values of `dtype`."""
    block = tuple(block_shape)
    shape = tuple(codes.shape)
    params = BlockParams.build(qparams, spec, shape, block)
    blocks = to_blocks(codes.to(torch.float32, copy=True), block)
    return values_from_codes(blocks, params, spec).reshape(shape).to(dtype)
