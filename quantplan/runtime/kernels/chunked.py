"""Emulated fp8 and MXFP4 linears that decode the weight in chunks of output rows.

The matmul runs in the compute dtype of the input (`compute_dtype`): bf16 for bf16 inputs and
float32 otherwise, so a float32 model gets float32 outputs as close to its fake-quant model
as float32 rounding allows. A bf16 matmul on float32 inputs adds about 0.35% relative L2
error, which is enough to flip the codes of a following int8 or fp8 activation quantizer and
grow to 1-3% at the model's output.

Each chunk of `CHUNK_ROWS` output rows is decoded into one reused buffer and multiplied at
once, so the decoded rows stay in cache instead of streaming a full decoded weight through
memory. The buffer takes 1 MiB for 4096 input features in bf16 and 2 MiB in float32.
- MXFP4 (blocks of (1, B) along the input features): each byte indexes a 256-entry table of
  value pairs (viewed as one int32 in bf16 or one int64 in float32, one gather per byte), and
  each block of B values is multiplied by its E8M0 scale 2^(b - 127). E2M1 values times powers
  of two are exact in bf16 and float32 (subnormals included), so the decoded weight equals
  the fake-quantized weight bit for bit.
- fp8 per output channel: each fp8 byte indexes a 256-entry table (exact; in bf16 about 6x
  faster than `Tensor.to(torch.bfloat16)` from fp8 on torch 2.13 CPU), and the per-channel scale
  multiplies the float32 output instead of the weight, because
  `x @ (q * s).T == (x @ q.T) * s` per output channel.
"""

from __future__ import annotations

import torch

from quantplan.runtime.formats import PackedTensor
from quantplan.runtime.formats.floats import E2M1_VALUES, decode_e8m0
from quantplan.runtime.kernels.buffers import scratch
from quantplan.runtime.kernels.choice import KernelChoice

__all__ = ["CHUNK_ROWS", "ChunkedFloatLinear", "chunked_reason", "compute_dtype"]

# Output rows decoded per matmul. NOTE: chosen by timing 64, 128 and 256 on 8 x
# Linear(4096, 4096) at M=1 (benchmarks/kernels.py, torch 2.13 CPU, 2 shared cores).
CHUNK_ROWS = 128

_CODES = torch.arange(256)
_E2M1_PAIRS = torch.stack([E2M1_VALUES[_CODES & 0xF], E2M1_VALUES[_CODES >> 4]], dim=-1)
# One E2M1 value pair per byte, stored as one integer of twice the compute dtype's width.
_PAIR_INTEGER = {torch.bfloat16: torch.int32, torch.float32: torch.int64}
_E2M1_PAIR_TABLES = {
    dtype: _E2M1_PAIRS.to(dtype).contiguous().view(integer).reshape(256)
    for dtype, integer in _PAIR_INTEGER.items()
}
_FP8_TABLES = {
    (fp8, dtype): _CODES.to(torch.uint8).view(fp8).to(dtype)
    for fp8 in (torch.float8_e4m3fn, torch.float8_e5m2)
    for dtype in _PAIR_INTEGER
}


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """Return the matmul dtype of the emulated kernels for input `x`: bf16 for bf16, else float32.

    NOTE: float16 and float64 inputs compute in float32, because fp8 and MXFP4 values times
    their scales can overflow float16; the output is cast back to the input's dtype.
    """
    return torch.bfloat16 if x.dtype == torch.bfloat16 else torch.float32


def chunked_reason(packed: PackedTensor) -> str:
    """Return why `ChunkedFloatLinear` cannot run `packed`, or "" when it can."""
    if len(packed.shape) != 2:
        return "the chunked float kernel needs a 2-D weight"
    _rows, columns = packed.shape
    if packed.dtype in ("float8_e4m3fn", "float8_e5m2"):
        return (
            ""
            if packed.block_shape == (1, columns)
            else "the chunked fp8 kernel needs one scale per output channel"
        )
    if packed.dtype == "float4_e2m1fn_x2":
        block = packed.block_shape
        if block[0] != 1 or block[1] % 2 or columns % 2:
            return "the chunked MXFP4 kernel needs blocks of (1, B) with B and in_features even"
        return ""
    return f"{packed.dtype} is not a float format"


class ChunkedFloatLinear:
    """Linear over an fp8 (per-channel) or MXFP4 ((1, B) blocks) weight [N, K], matmul in `compute_dtype`."""

    def __init__(
        self, packed: PackedTensor, *, name: str = "chunked dequantize+linear in the input dtype"
    ):
        self.packed = packed
        self.mxfp4 = packed.dtype == "float4_e2m1fn_x2"
        scale = (
            decode_e8m0(packed.scale)
            if packed.scale_encoding == "e8m0"
            else packed.scale.to(torch.float32)
        )
        if self.mxfp4:
            # Powers of two in [2^-127, 2^127] are exact in bf16 and float32.
            self.scale = {dtype: scale.to(dtype).unsqueeze(-1) for dtype in _PAIR_INTEGER}
        else:
            self.scale = scale.reshape(-1)
        self.choice = KernelChoice(name=name, native=False)

    def decode_rows(self, start: int, stop: int, out: torch.Tensor) -> torch.Tensor:
        """Write the weight rows [start, stop) into `out` (shape [stop - start, K], bf16 or float32).

        fp8 rows are the unscaled codes; MXFP4 rows are fully dequantized.
        """
        data = self.packed.data[start:stop]
        if not self.mxfp4:
            indices = data.view(torch.uint8).reshape(-1).to(torch.int32)
            torch.index_select(_FP8_TABLES[data.dtype, out.dtype], 0, indices, out=out.view(-1))
            return out
        pairs = out.view(_PAIR_INTEGER[out.dtype]).reshape(-1)
        torch.index_select(
            _E2M1_PAIR_TABLES[out.dtype], 0, data.reshape(-1).to(torch.int32), out=pairs
        )
        blocks = out.view(stop - start, -1, self.packed.block_shape[1])
        blocks.mul_(self.scale[out.dtype][start:stop])
        return out

    def weight(self, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Return the whole dequantized weight in `dtype`, in a pooled buffer.

        In float32 it equals the fake-quantized weight; in bf16 it does for MXFP4 only.
        """
        full = scratch(self.packed.shape, dtype, device)
        return (
            self.decode_rows(0, self.packed.shape[0], full)
            if self.mxfp4
            else self._fp8_weight(full)
        )

    def _fp8_weight(self, full: torch.Tensor) -> torch.Tensor:
        full.copy_(self.packed.data.to(torch.float32).mul_(self.scale.reshape(-1, 1)))
        return full

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        rows, columns = self.packed.shape
        dtype = compute_dtype(x)
        flat = x.reshape(-1, columns).to(dtype)
        out = torch.empty((flat.shape[0], rows), dtype=torch.float32, device=x.device)
        buffer = scratch((CHUNK_ROWS, columns), dtype, x.device)
        for start in range(0, rows, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, rows)
            decoded = self.decode_rows(start, stop, buffer[: stop - start])
            out[:, start:stop] = flat @ decoded.t()
        if not self.mxfp4:
            out.mul_(self.scale)
        if bias is not None:
            out.add_(bias)
        return out.reshape(*x.shape[:-1], rows).to(x.dtype)
