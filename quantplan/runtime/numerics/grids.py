"""Rounding of float32 values onto the fp8 and fp4 grids.

Callers saturate to +/-fmax first, so rounding never overflows into inf or NaN. Rounding is
to nearest with ties to even, including the subnormals of each format; float32 subnormal
inputs are not flushed to zero. NaN stays NaN. A negative value that rounds to zero gives -0.0.

- float8_e4m3fn and float8_e5m2 round through torch's float8 cast, which is round to nearest
  even with subnormals (e4m3: 1.0625 -> 1, 17 -> 16, 432 -> 448, 3 * 2^-10 -> 2^-8).
- float4_e2m1 rounds onto {0, 0.5, 1, 1.5, 2, 3, 4, 6} (and negatives) by `round_to_mantissa`
  with 1 mantissa bit and minimum exponent 0 (0.25 -> 0, 0.75 -> 1, 2.5 -> 2, 5 -> 4).
"""

from __future__ import annotations

import torch

from quantplan.quantization.dtypes import ElementType

__all__ = ["round_to_element", "round_to_mantissa"]

# (mantissa bits, minimum normal exponent) of the float element formats.
FLOAT_FORMATS = {
    "float8_e4m3fn": (3, -6),
    "float8_e5m2": (2, -14),
    "float4_e2m1fn_x2": (1, 0),
}


def round_to_element(values: torch.Tensor, element: ElementType) -> torch.Tensor:
    """Round saturated float32 `values` to the nearest value of `element` (float32 result)."""
    if element.bits == 8:
        return values.to(element.dtype).to(torch.float32)
    mantissa_bits, min_exponent = FLOAT_FORMATS[element.name]
    return round_to_mantissa(values, mantissa_bits, min_exponent)


def round_to_mantissa(values: torch.Tensor, mantissa_bits: int, min_exponent: int) -> torch.Tensor:
    """Round float32 `values` to `mantissa_bits` bits after the point, ties to even.

    Values below 2^min_exponent share the subnormal step 2^(min_exponent - mantissa_bits).
    The step is a power of two, so dividing and multiplying by it is exact.
    """
    exponent = ((values.view(torch.int32) >> 23) & 0xFF) - 127
    step_exponent = torch.clamp(exponent, min=min_exponent) - mantissa_bits
    step = ((step_exponent + 127) << 23).view(torch.float32)
    return torch.round(values / step) * step
