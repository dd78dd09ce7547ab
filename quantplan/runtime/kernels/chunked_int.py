"""Chunked linear for 2-D integer weights whose blocks span one output row.

It serves two cases: above the crossover row count, where the weight-only kernels
(`_weight_int8pack_mm`, `_weight_int4pack_mm_for_cpu`) are slower than a float matmul, and
ops whose input activation is quantized, where the bf16 kernels' rounding would flip the
activation codes downstream. It dequantizes `CHUNK_ROWS` output rows at a time into reused
buffers and multiplies each chunk at once, in the input's compute dtype (`compute_dtype`:
bf16 for bf16 inputs, else float32). The float32 rows equal the fake-quantized weight bit
for bit (the same arithmetic as `dequantize_into`). For bf16 inputs, the bf16 cast of the
weights is the only extra rounding, measured at about 0.3% relative L2 error.

An int8/uint8 weight with one scale per output row skips the float32 pass: `q - zp` (at most
255 in magnitude) is exact in bf16 and float32, and the row scale multiplies the float32
output instead, because `x @ ((q - zp) * s).T == (x @ (q - zp).T) * s` per output row.
"""

from __future__ import annotations

import attrs
import torch

from quantplan.runtime.formats import PackedTensor
from quantplan.runtime.kernels.buffers import scratch
from quantplan.runtime.kernels.choice import KernelChoice
from quantplan.runtime.kernels.chunked import CHUNK_ROWS, compute_dtype
from quantplan.runtime.kernels.dequant import dequantize_into

__all__ = ["CHUNKED_INT_NAME", "ChunkedIntLinear", "packed_rows"]

CHUNKED_INT_NAME = "chunked dequantize+linear in the input dtype"


def packed_rows(packed: PackedTensor, start: int, stop: int) -> PackedTensor:
    """Return rows [start, stop) of a 2-D packed weight with (1, B) blocks, as views."""
    return attrs.evolve(
        packed,
        shape=(stop - start, packed.shape[1]),
        data=packed.data[start:stop],
        scale=packed.scale[start:stop],
        zero_point=None if packed.zero_point is None else packed.zero_point[start:stop],
        minval=None if packed.minval is None else packed.minval[start:stop],
    )


class ChunkedIntLinear:
    """Linear over a 2-D integer packed weight [N, K] with blocks of (1, B), matmul in `compute_dtype`."""

    def __init__(self, packed: PackedTensor, qmin: int, *, reason: str = ""):
        self.packed = packed
        self.qmin = qmin
        self.choice = KernelChoice(name=CHUNKED_INT_NAME, native=False, reason=reason)
        self.row_scale = None
        if (
            packed.dtype in ("int8", "uint8")
            and packed.block_shape == (1, packed.shape[1])
            and packed.minval is None
        ):
            self.row_scale = packed.scale.reshape(-1).to(torch.float32)
            zero_points = packed.zero_points()
            self.row_zero = (
                None if zero_points is None else zero_points.reshape(-1, 1).to(torch.float32)
            )

    def decode_rows(
        self, start: int, stop: int, exact: torch.Tensor, rounded: torch.Tensor
    ) -> torch.Tensor:
        """Write rows [start, stop) into `rounded`: dequantized, or `q - zp` with row scales.

        `exact` is float32 scratch, used only when `rounded` is bf16.
        """
        if self.row_scale is None:
            rows = packed_rows(self.packed, start, stop)
            if rounded.dtype == torch.float32:
                return dequantize_into(rows, self.qmin, rounded)
            return rounded.copy_(dequantize_into(rows, self.qmin, exact))
        rounded.copy_(self.packed.data[start:stop])
        return rounded if self.row_zero is None else rounded.sub_(self.row_zero[start:stop])

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        rows, columns = self.packed.shape
        dtype = compute_dtype(x)
        flat = x.reshape(-1, columns).to(dtype)
        out = torch.empty((flat.shape[0], rows), dtype=torch.float32, device=x.device)
        exact = scratch((CHUNK_ROWS, columns), torch.float32, x.device)
        rounded = (
            exact if dtype == torch.float32 else scratch((CHUNK_ROWS, columns), dtype, x.device)
        )
        for start in range(0, rows, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, rows)
            chunk = self.decode_rows(start, stop, exact[: stop - start], rounded[: stop - start])
            out[:, start:stop] = flat @ chunk.t()
        if self.row_scale is not None:
            out.mul_(self.row_scale)
        if bias is not None:
            out.add_(bias)
        return out.reshape(*x.shape[:-1], rows).to(x.dtype)
