"""Fake quantization with fixed qparams, specialized once for one input shape (evaluation).

`FixedFakeQuant` gives the same bits as `fake_quantize_with_qparams` for integer formats with
the `zp` formulation, in four passes instead of six (in place where the caller lets it
overwrite the input), and with the reshapes, dtype conversions and broadcast shapes worked
out at build time:

    q = (M + x / s) - M               # true division; M = 1.5 * 2^23, so q = rne(x / s), never -0.0
    q = clamp(q, qmin - zp, qmax - zp)
    y = q * s

This equals `(clamp(rne(x / s) + zp, qmin, qmax) - zp) * s` because every term is an
integer below 2^24, which float32 holds exactly. Each pass is one ATen call, and on a CPU each
call of a tensor above ATen's grain size may wake the intra-op threads, so the pass count is
what an evaluation forward pays. Float formats, the `minval` formulation and clamp bounds
of 2^22 or more return None from `build_fixed_fake_quant`, so callers keep the general path.
"""

from __future__ import annotations

import attrs
import torch

from quantplan.quantization.spec import QFormulation, QuantizationSpec
from quantplan.runtime.numerics.blocks import grid_shape, scale_view_shape
from quantplan.runtime.numerics.results import QParams

__all__ = ["FixedFakeQuant", "build_fixed_fake_quant"]

# 1.5 * 2^23: float32 numbers from 2^23 to 2^24 are exactly the integers, so adding this
# rounds to an integer, half to even (it is even), for any addend below 2^22 in size.
MAGIC = 12582912.0
_LIMIT = 2.0**22


@attrs.frozen(eq=False)
class FixedFakeQuant:
    """Fake quantization of tensors of one shape, dtype and device with fixed qparams.

    `blocked_shape` is the `to_blocks` view shape, or None for per-tensor qparams (no view).
    `scale` broadcasts over that view. `low` and `high` are the clamp bounds of the
    zero-point-free code `rne(x / s)`: floats for one block, tensors for several.
    `magic` is MAGIC as a float32 scalar tensor on the device (the first `addcdiv` operand).
    """

    shape: torch.Size
    blocked_shape: tuple[int, ...] | None
    scale: torch.Tensor
    low: torch.Tensor | float
    high: torch.Tensor | float
    magic: torch.Tensor

    def __call__(self, x: torch.Tensor, *, consume: bool = False) -> torch.Tensor:
        """Fake-quantize `x`; with `consume`, a float32 `x` that is no view is overwritten.

        Only a caller that never reads `x` again may pass `consume=True` (graph mode passes
        it where the quantizer is the only reader of a tensor an op has just computed).
        """
        in_place = consume and x.dtype == torch.float32 and x._base is None
        values = x if x.dtype == torch.float32 else x.to(torch.float32)
        if self.blocked_shape is not None:
            values = values.reshape(self.blocked_shape)
        # MAGIC + x / s, rounded to float32, is MAGIC + rne(x / s) while |x / s| < 2^22, and
        # subtracting MAGIC again is exact and gives +0.0, never -0.0. Larger quotients land
        # beyond the clamp bounds on the same side, so they clamp as rne(x / s) would.
        if in_place:
            codes = torch.addcdiv(self.magic, values, self.scale, out=values)
        else:
            codes = torch.addcdiv(self.magic, values, self.scale)
        codes.sub_(MAGIC)
        codes.clamp_(self.low, self.high)
        codes.mul_(self.scale)
        output = codes.reshape(self.shape) if self.blocked_shape is not None else codes
        return output if x.dtype == torch.float32 else output.to(x.dtype)


def build_fixed_fake_quant(
    qparams: QParams,
    spec: QuantizationSpec,
    shape: torch.Size,
    block: tuple[int, ...],
    device: torch.device,
) -> FixedFakeQuant | None:
    """Specialize `qparams` for inputs of `shape`; None where only the general path applies."""
    if spec.is_float or spec.qformulation is QFormulation.MINVAL or qparams.zero_point is None:
        return None
    grid = grid_shape(tuple(shape), block)
    per_tensor = all(count == 1 for count in grid)
    view = () if per_tensor else scale_view_shape(grid)
    scale = qparams.scale.to(device=device, dtype=torch.float32).reshape(view)
    zero_point = qparams.zero_point.to(device=device, dtype=torch.float32).reshape(view)
    if per_tensor:
        offset = float(zero_point)
        low, high = spec.quant_min - offset, spec.quant_max - offset
    else:
        low, high = spec.quant_min - zero_point, spec.quant_max - zero_point
    if max(abs(float(torch.as_tensor(bound).abs().max())) for bound in (low, high)) >= _LIMIT:
        return None
    blocked_shape = None if per_tensor else _blocked_shape(tuple(shape), block)
    magic = torch.tensor(MAGIC, dtype=torch.float32, device=device)
    return FixedFakeQuant(
        shape=torch.Size(shape),
        blocked_shape=blocked_shape,
        scale=scale,
        low=low,
        high=high,
        magic=magic,
    )


def _blocked_shape(shape: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    split: list[int] = []
    for size, extent in zip(shape, block, strict=True):
        split += [size // extent, extent]
    return tuple(split)
