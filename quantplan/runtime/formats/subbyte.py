"""The portable sub-byte layout: int4/uint4 two codes per byte, int2/uint2 four per byte.

Layout (format version 1), recorded in the artifact metadata by `SUBBYTE_LAYOUT`:

- The tensor is packed along its last dimension; every row (all leading indices fixed) is
  packed on its own, so the packed shape is `(*shape[:-1], ceil(shape[-1] / per_byte))`.
- Element `per_byte * j + i` of a row goes to bits `[bits * i, bits * (i + 1))` of byte `j`:
  the first element sits in the low nibble, the second in the high nibble.
- Each code is stored as its two's-complement bit pattern (`code & mask`), so int4 -8 is 0x8
  and -1 is 0xF; unsigned codes are stored as they are.
- When the last dimension is not a multiple of `per_byte`, each row is padded at its end with
  zero bits. Unpacking drops the padding, given the original shape.
"""

from __future__ import annotations

import torch

from quantplan.errors import ErrorDetail, PlanError

__all__ = ["SUBBYTE_LAYOUT", "pack_subbyte", "packed_shape", "unpack_subbyte"]

SUBBYTE_LAYOUT = {
    "packed_axis": -1,
    "element_order": "first element in the lowest bits",
    "code_encoding": "two's complement bit pattern for signed types",
    "padding": "zero bits at the end of each row when the last dim is not a multiple of the codes per byte",
}


def packed_shape(shape: tuple[int, ...], bits: int) -> tuple[int, ...]:
    """Return the uint8 shape that stores codes of `shape` at `bits` bits each."""
    per_byte = 8 // bits
    return (*shape[:-1], -(-shape[-1] // per_byte))


def pack_subbyte(
    codes: torch.Tensor, bits: int, *, signed: bool, name: str | None = None
) -> torch.Tensor:
    """Pack int32 `codes` (already clamped to the type's range) into uint8, `8 // bits` per byte.

    Raises PlanError naming the tensor when a code is outside the range of a `bits`-bit type,
    which would otherwise be silently truncated, or when the tensor is a scalar.
    """
    _check_bits(bits)
    if codes.dim() == 0:
        raise PlanError(
            ErrorDetail(
                path=name or "<tensor>",
                message="cannot pack a 0-d tensor; reshape it to 1-D first.",
            )
        )
    _check_range(codes, bits, signed, name)
    per_byte = 8 // bits
    length = codes.shape[-1]
    padded = -(-length // per_byte) * per_byte
    fields = (codes.to(torch.int32) & ((1 << bits) - 1)).to(torch.uint8)
    if padded != length:
        fields = torch.nn.functional.pad(fields, (0, padded - length))
    fields = fields.reshape(*codes.shape[:-1], padded // per_byte, per_byte)
    packed = fields[..., 0].clone()
    for index in range(1, per_byte):
        packed |= fields[..., index] << (bits * index)
    return packed


def unpack_subbyte(
    packed: torch.Tensor, shape: tuple[int, ...], bits: int, *, signed: bool
) -> torch.Tensor:
    """Unpack uint8 data made by `pack_subbyte` into int32 codes of `shape`."""
    _check_bits(bits)
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    data = packed.to(torch.int32)
    fields = [(data >> (bits * index)) & mask for index in range(per_byte)]
    codes = torch.stack(fields, dim=-1).reshape(*shape[:-1], -1)[..., : shape[-1]]
    if signed:
        codes = codes - ((codes >> (bits - 1)) << bits)
    return codes.contiguous()


def _check_bits(bits: int) -> None:
    if bits not in (1, 2, 4):
        raise ValueError(f"sub-byte packing takes 1, 2 or 4 bits per code, got {bits}.")


def _check_range(codes: torch.Tensor, bits: int, signed: bool, name: str | None) -> None:
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if codes.numel() and (int(codes.min()) < low or int(codes.max()) > high):
        kind = "signed" if signed else "unsigned"
        raise PlanError(
            ErrorDetail(
                path=name or "<tensor>",
                message=(
                    f"codes span [{int(codes.min())}, {int(codes.max())}], outside the {kind} "
                    f"{bits}-bit range [{low}, {high}]; quantize with the plan's spec before packing."
                ),
            )
        )
