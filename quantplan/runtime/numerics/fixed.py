"""Fake quantization with fixed qparams, specialized once for one input shape (evaluation).

`FixedFakeQuant` gives the same bits as `fake_quantize_with_qparams` for integer formats with
the `zp` formulation, with the reshapes, dtype conversions and broadcast shapes worked out at
build time. Per-tensor qparams on the CPU take one pass of the native kernel (`native`) when
it can be built. Otherwise per-tensor qparams take four ATen passes, per-block qparams five:

    q = clamp(x / s, qmin - zp, qmax - zp)     # true division
    q = rne(q)
    y = 0.0 + s * q                            # one `add` with alpha=s; "0.0 +" makes -0.0 +0.0

(per-block scales cannot be an `alpha`, so there `y = q * s` and `+ 0.0` are two passes).
This equals `(clamp(rne(x / s) + zp, qmin, qmax) - zp) * s`. Every term is an integer below
2^24, which float32 holds exactly, and clamping to integer bounds commutes with rounding.
Float formats and the `minval` formulation return None from `build_fixed_fake_quant`, so
callers keep the general path for them.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import torch

from quantplan.quantization.spec import QFormulation, QuantizationSpec
from quantplan.runtime.numerics.blocks import grid_shape, scale_view_shape
from quantplan.runtime.numerics.native import fixed_fake_quant_kernel
from quantplan.runtime.numerics.results import QParams

__all__ = ["FixedFakeQuant", "build_fixed_fake_quant"]


@attrs.frozen(eq=False)
class FixedFakeQuant:
    """Fake quantization of tensors of one shape, dtype and device with fixed qparams.

    `blocked_shape` is the `to_blocks` view shape, or None for per-tensor qparams (no view).
    `scale` broadcasts over that view. `low` and `high` are the clamp bounds of the
    zero-point-free code `rne(x / s)`: floats for one block, tensors for several.
    `scale_value` is the one scale as a Python float (None for several blocks), and `zero`
    a 0-d zero of the output's dtype and device, the `input` of the final `add`. `kernel` is
    the native one-pass operator (`numerics.native`) where it applies, else None.
    """

    shape: torch.Size
    blocked_shape: tuple[int, ...] | None
    scale: torch.Tensor
    low: torch.Tensor | float
    high: torch.Tensor | float
    scale_value: float | None
    zero: torch.Tensor
    kernel: Callable | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        values = x if x.dtype == torch.float32 else x.to(torch.float32)
        if self.kernel is not None:
            output = self.kernel(values, self.scale_value, self.low, self.high)
            return output if x.dtype == torch.float32 else output.to(x.dtype)
        if self.blocked_shape is not None:
            values = values.reshape(self.blocked_shape)
        codes = torch.div(values, self.scale)
        codes.clamp_(self.low, self.high)
        codes.round_()
        if self.scale_value is not None:
            torch.add(self.zero, codes, alpha=self.scale_value, out=codes)
        else:
            codes.mul_(self.scale)
            codes.add_(0.0)
        output = codes.reshape(self.shape) if self.blocked_shape is not None else codes
        return output if x.dtype == torch.float32 else output.to(x.dtype)


def build_fixed_fake_quant(
    qparams: QParams,
    spec: QuantizationSpec,
    shape: torch.Size,
    block: tuple[int, ...],
    device: torch.device,
    *,
    native: bool = True,
) -> FixedFakeQuant | None:
    """Specialize `qparams` for inputs of `shape`; None where only the general path applies.

    With `native`, per-tensor qparams on the CPU use the native one-pass kernel when it can be
    built (see `numerics.native`). Otherwise the ATen passes run.
    """
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
    blocked_shape = None if per_tensor else _blocked_shape(tuple(shape), block)
    use_kernel = native and per_tensor and device.type == "cpu" and _kernel_bounds(low, high)
    return FixedFakeQuant(
        shape=torch.Size(shape),
        blocked_shape=blocked_shape,
        scale=scale,
        low=low,
        high=high,
        scale_value=float(scale) if per_tensor else None,
        zero=torch.zeros((), dtype=torch.float32, device=device),
        kernel=fixed_fake_quant_kernel() if use_kernel else None,
    )


def _kernel_bounds(low: float, high: float) -> bool:
    # The native kernel rounds by adding 1.5 * 2^23, which is exact below 2^22 in magnitude.
    return low <= 0.0 <= high and high - low < 2.0**22


def _blocked_shape(shape: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    split: list[int] = []
    for size, extent in zip(shape, block, strict=True):
        split += [size // extent, extent]
    return tuple(split)
