"""Bit-level encodings of the float formats: fp8 storage, E2M1 (fp4) codes and E8M0 scales.

- fp8 (e4m3fn, e5m2) is stored in torch's float8 dtypes. Values come from the numerics
  already saturated to +/-fmax, so the cast is exact and never produces NaN.
- E2M1 codes are 4-bit fields: bit 3 is the sign and bits 0-2 index the magnitudes
  0, 0.5, 1, 1.5, 2, 3, 4, 6 (OCP Microscaling Formats v1.0). Two codes share a byte through
  the portable sub-byte layout, first element in the low nibble.
- E8M0 scale bytes store a biased exponent: byte b is 2^(b - 127); byte 0 is 2^-127 (a float32
  subnormal) and 0xFF is NaN, which is rejected on decode and never written.
"""

from __future__ import annotations

import torch

from quantplan.errors import ErrorDetail, PlanError

__all__ = [
    "E2M1_VALUES",
    "check_finite_fp8",
    "decode_e2m1",
    "decode_e8m0",
    "encode_e2m1",
    "encode_e8m0",
]

E2M1_VALUES = torch.tensor(
    [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]
)
_E8M0_NAN = 0xFF


def encode_e2m1(values: torch.Tensor, *, name: str | None = None) -> torch.Tensor:
    """Encode float32 values on the E2M1 grid (signed zeros included) as int32 codes 0..15.

    Raises PlanError naming the tensor when a value is not exactly on the grid.
    """
    magnitudes = E2M1_VALUES[:8]
    absolute = values.abs().to(torch.float32)
    index = torch.bucketize(absolute, magnitudes).clamp(max=7)
    if not torch.equal(magnitudes[index], absolute):
        bad = values[magnitudes[index] != absolute].flatten()[0].item()
        raise PlanError(
            ErrorDetail(
                path=name or "<tensor>",
                message=f"value {bad!r} is not on the E2M1 grid; quantize with the plan's spec before packing.",
            )
        )
    sign = torch.signbit(values).to(torch.int32)
    return index.to(torch.int32) | (sign << 3)


def decode_e2m1(codes: torch.Tensor) -> torch.Tensor:
    """Decode int32 or uint8 E2M1 codes (0..15) to float32 values by table lookup."""
    return E2M1_VALUES[codes.to(torch.int64)]


def encode_e8m0(scale: torch.Tensor, *, name: str | None = None) -> torch.Tensor:
    """Encode float32 power-of-two scales in [2^-127, 2^127] as E8M0 bytes (uint8).

    Raises PlanError naming the tensor for a scale that is not a power of two in that range
    (NaN included), because E8M0 cannot represent it and its byte would be 0xFF or wrong.
    """
    scale = scale.to(torch.float32)
    exponent = torch.frexp(scale).exponent - 1
    exact = torch.ldexp(torch.ones_like(scale), exponent) == scale
    valid = exact & (exponent >= -127) & (exponent <= 127) & torch.isfinite(scale)
    if not bool(valid.all()):
        bad = scale[~valid].flatten()[0].item()
        raise PlanError(
            ErrorDetail(
                path=name or "<tensor>",
                message=f"scale {bad!r} is not a power of two in [2^-127, 2^127], so it has no E8M0 byte.",
            )
        )
    return (exponent + 127).to(torch.uint8)


def decode_e8m0(data: torch.Tensor, *, name: str | None = None) -> torch.Tensor:
    """Decode E8M0 bytes (uint8) to float32 scales; raises PlanError on the NaN byte 0xFF."""
    if bool((data == _E8M0_NAN).any()):
        raise PlanError(
            ErrorDetail(
                path=name or "<tensor>",
                message="E8M0 scale byte 0xFF (NaN) found; the artifact is corrupt or was not written by quantplan.",
            )
        )
    exponent = data.to(torch.int32) - 127
    return torch.ldexp(torch.ones(data.shape, dtype=torch.float32), exponent)


def check_finite_fp8(data: torch.Tensor, *, name: str | None = None) -> None:
    """Raise PlanError naming the tensor when fp8 data contains a NaN or inf bit pattern."""
    if data.dtype not in (torch.float8_e4m3fn, torch.float8_e5m2):
        return
    if not bool(torch.isfinite(data.to(torch.float32)).all()):
        raise PlanError(
            ErrorDetail(
                path=name or "<tensor>",
                message=f"{data.dtype} data contains NaN or inf bytes; quantplan never writes them (values saturate to +/-fmax).",
            )
        )
