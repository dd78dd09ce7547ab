"""Scales, zero points and minval offsets from per-block ranges.

Rules (the arithmetic runs in the dtype of `lo`/`hi`, rounding after each step):

- symmetric schemes: `amax = max(-lo, hi)`, `s = amax / ((qmax - qmin) / 2)` for integers
  (127.5 for int8, 127 for clipped int8) and `s = amax / fmax` for fp8; zero point 0 for
  signed integers, 2^(n-1) for unsigned, none for float formats; minval `-amax`.
- asymmetric: `s = (hi - lo) / (qmax - qmin)`, `zp = clamp(qmin - rne(lo / s), qmin, qmax)`,
  minval `lo`.
- every float32 scale gets a floor of 2^-23, so a zero block has scale 1.1920929e-07.
- power-of-two (float8_e8m0fnu) scales, always used by fp4: `s = 2^(E - T)` where E is the
  unbiased float32 exponent field of amax (floor(log2 amax), -127 for zero and subnormals)
  and T is the element's `mx_exponent_offset`; the exponent has a floor of -126. The
  exponent is floored, never rounded, which is why `.to(torch.float8_e8m0fnu)` (round to
  nearest) is not used.
"""

from __future__ import annotations

import torch

from quantplan.quantization.spec import QuantizationScheme, QuantizationSpec
from quantplan.runtime.numerics.results import QParams

__all__ = ["MIN_E8M0_EXPONENT", "MIN_SCALE", "power_of_two_scale", "qparams_from_range"]

MIN_SCALE = 2.0**-23
MIN_E8M0_EXPONENT = -126


def qparams_from_range(lo: torch.Tensor, hi: torch.Tensor, spec: QuantizationSpec) -> QParams:
    """Compute the qparams of every block from its range `(lo, hi)` (block-grid shaped)."""
    if spec.effective_scale_dtype == torch.float8_e8m0fnu:
        return _power_of_two_qparams(lo, hi, spec)
    if spec.qscheme is QuantizationScheme.ASYMMETRIC:
        return _asymmetric_qparams(lo, hi, spec)
    return _symmetric_qparams(lo, hi, spec)


def power_of_two_scale(amax: torch.Tensor, offset: int) -> torch.Tensor:
    """Return the float32 scale 2^(floor(log2 amax) - offset), at least 2^-126."""
    bits = amax.to(torch.float32).view(torch.int32)
    exponent = ((bits >> 23) & 0xFF) - 127
    exponent = torch.clamp(exponent - offset, MIN_E8M0_EXPONENT, 127)
    return ((exponent + 127) << 23).view(torch.float32)


def _symmetric_qparams(lo: torch.Tensor, hi: torch.Tensor, spec: QuantizationSpec) -> QParams:
    # torch.maximum returns its first argument on ties, so a zero block gets amax +0.0 from
    # `hi` and minval -0.0, as the golden vectors require.
    amax = torch.maximum(hi, -lo)
    element = spec.element
    divisor = element.fmax if element.is_float else (spec.quant_max - spec.quant_min) / 2
    scale = torch.clamp(amax / divisor, min=MIN_SCALE).to(torch.float32)
    if element.is_float:
        return QParams(scale, None, None)
    zero = 0 if element.signed else 2 ** (element.bits - 1)
    zero_point = torch.full(scale.shape, zero, dtype=torch.int32, device=scale.device)
    return QParams(scale, zero_point, (-amax).to(torch.float32))


def _asymmetric_qparams(lo: torch.Tensor, hi: torch.Tensor, spec: QuantizationSpec) -> QParams:
    qmin, qmax = spec.quant_min, spec.quant_max
    scale = torch.clamp((hi - lo) / (qmax - qmin), min=MIN_SCALE)
    zero_point = torch.clamp(qmin - torch.round(lo / scale).to(torch.float32), qmin, qmax)
    return QParams(scale.to(torch.float32), zero_point.to(torch.int32), lo.to(torch.float32))


def _power_of_two_qparams(lo: torch.Tensor, hi: torch.Tensor, spec: QuantizationSpec) -> QParams:
    amax = torch.maximum(hi, -lo)
    scale = power_of_two_scale(amax, spec.element.mx_exponent_offset)  # type: ignore[arg-type]
    if spec.is_float:
        return QParams(scale, None, None)
    zero_point = torch.zeros(scale.shape, dtype=torch.int32, device=scale.device)
    return QParams(scale, zero_point, (-amax).to(torch.float32))
