"""CPU weight-only kernels: int4 via `_weight_int4pack_mm_for_cpu`, int8 via `_weight_int8pack_mm`.

Both run with bf16 activations (fp32 activations are 10-50x slower in these kernels on
torch 2.13 CPU) and bf16 scales, so they are not bit-exact: the measured relative L2 error
against the float32 fake-quant linear is about 0.3% (bf16 activations and scales).
Above `crossover_m` rows (None: never) the op switches to `ChunkedIntLinear`, which
dequantizes 128 output rows at a time and multiplies them in bf16.
"""

from __future__ import annotations

import torch

from quantplan.runtime.formats import PackedTensor, unpack_codes
from quantplan.runtime.kernels.choice import KernelChoice
from quantplan.runtime.kernels.chunked_int import CHUNKED_INT_NAME, ChunkedIntLinear

__all__ = [
    "INT4_GROUP_SIZES",
    "Int4Linear",
    "Int8WeightOnlyLinear",
    "int4_group_size",
    "int4pack_for_cpu",
]

INT4_GROUP_SIZES = (256, 128, 64, 32)


def int4_group_size(block_columns: int) -> int | None:
    """Return the largest kernel group size that divides the block's column extent, or None."""
    for size in INT4_GROUP_SIZES:
        if block_columns % size == 0:
            return size
    return None


# The CPU int4 layout interleaves blocks of 64 output rows independently, so converting 64
# rows at a time gives the same bytes while the int32 input the conversion needs stays small.
_INT4PACK_ROWS = 64


def int4pack_for_cpu(packed: PackedTensor, *, signed: bool) -> torch.Tensor:
    """Return the `_weight_int4pack_mm_for_cpu` layout of a 2-D int4/uint4 portable tensor.

    The kernel takes unsigned codes 0..15, which are the stored nibbles for uint4 and the
    nibbles with bit 3 flipped (q + 8) for int4's two's-complement codes.
    """
    rows, columns = packed.shape
    out = torch.empty((rows, columns // 2), dtype=torch.uint8)
    for start in range(0, rows, _INT4PACK_ROWS):
        data = packed.data[start : start + _INT4PACK_ROWS]
        nibbles = torch.stack([data & 0xF, data >> 4], dim=-1).reshape(data.shape[0], -1)[
            :, :columns
        ]
        if signed:
            nibbles = nibbles ^ 8
        codes = nibbles.to(torch.int32).contiguous()
        out[start : start + data.shape[0]] = torch.ops.aten._convert_weight_to_int4pack_for_cpu(
            codes, 1
        )
    return out


def _above(crossover_m: int | None) -> str | None:
    return None if crossover_m is None else CHUNKED_INT_NAME


def _flatten_rows(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, x.shape[-1])


class _WeightOnly:
    """Shared forward: the native kernel up to `crossover_m` rows, the chunked bf16 path above."""

    fallback: ChunkedIntLinear
    choice: KernelChoice

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
        crossover = self.choice.crossover_m
        if crossover is not None and rows > crossover:
            return self.fallback(x, bias)
        out = self.matmul(_flatten_rows(x).to(torch.bfloat16).contiguous())
        out = out.reshape(*x.shape[:-1], out.shape[-1]).to(x.dtype)
        return out if bias is None else out.add_(bias)

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Int4Linear(_WeightOnly):
    """int4/uint4 weight [N, K] with blocks of (1, B), B a multiple of 32 and N a multiple of 16.

    The kernel computes `(q_u - 8) * scale + zero` with unsigned codes q_u in 0..15, so the
    portable codes map as q_u = q - qmin_of_type, and zero = (8 + qmin_of_type - zp) * scale
    (`zp` formulation) or 8 * scale + minval (`minval` formulation).
    """

    def __init__(
        self,
        packed: PackedTensor,
        qmin: int,
        type_min: int,
        *,
        crossover_m: int | None,
        name: str = "aten._weight_int4pack_mm_for_cpu",
    ):
        _rows, _columns = packed.shape
        self.group = int4_group_size(packed.block_shape[1])
        self.weight = int4pack_for_cpu(packed, signed=type_min < 0)
        self.scales_and_zeros = self._scales_and_zeros(packed, type_min)
        self.fallback = ChunkedIntLinear(packed, qmin)
        self.choice = KernelChoice(
            name=name, native=True, crossover_m=crossover_m, above_crossover=_above(crossover_m)
        )

    def _scales_and_zeros(self, packed: PackedTensor, type_min: int) -> torch.Tensor:
        from quantplan.runtime.formats import unpack_qparams

        qparams = unpack_qparams(packed)
        scale = qparams.scale.to(torch.float32)
        if packed.minval is not None:
            zero = 8 * scale + packed.minval
        else:
            zero = (8 + type_min - qparams.zero_point.to(torch.float32)) * scale
        repeat = packed.block_shape[1] // self.group  # type: ignore[operator]
        pairs = torch.stack([scale, zero], dim=-1).repeat_interleave(repeat, dim=1)
        return pairs.transpose(0, 1).contiguous().to(torch.bfloat16)

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(
            x, self.weight, self.group, self.scales_and_zeros
        )


class Int8WeightOnlyLinear(_WeightOnly):
    """int8 (or symmetric uint8, shifted by 128) weight [N, K], one scale per output row, zero point 0."""

    def __init__(self, packed: PackedTensor, qmin: int, shift: int, *, crossover_m: int | None):
        from quantplan.runtime.formats import unpack_qparams

        self.weight = (unpack_codes(packed) - shift).to(torch.int8).contiguous()
        self.scales = unpack_qparams(packed).scale.reshape(-1).to(torch.bfloat16)
        self.fallback = ChunkedIntLinear(packed, qmin)
        self.choice = KernelChoice(
            name="aten._weight_int8pack_mm",
            native=True,
            crossover_m=crossover_m,
            above_crossover=_above(crossover_m),
        )

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(x, self.weight, self.scales)
