"""Emulated fp8 and MXFP4 linears that decode the weight in chunks of output rows.

Each chunk of `CHUNK_ROWS` output rows is decoded to bf16 into one reused buffer (1 MiB for
4096 input features) and multiplied at once, so the decoded rows stay in cache instead of
streaming a full bf16 weight through memory.
- MXFP4 (blocks of (1, B) along the input features): each byte indexes a 256-entry table of
  bf16 value pairs (viewed as int32, one gather per byte), and each block of B values is multiplied by its E8M0 scale 2^(b - 127).
  E2M1 values times powers of two are exact in bf16 (subnormals included), so the decoded
  weight equals the fake-quantized weight bit for bit.
- fp8 per output channel: each fp8 byte indexes a 256-entry bf16 table (exact; about 6x
  faster than `Tensor.to(torch.bfloat16)` from fp8 on torch 2.13 CPU), and the per-channel scale
  multiplies the float32 output instead of the weight, because
  `x @ (q * s).T == (x @ q.T) * s` per output channel. This is no less accurate than
  rounding `q * s` to bf16.
"""

from __future__ import annotations

import torch

from quantplan.runtime.formats import PackedTensor
from quantplan.runtime.formats.floats import E2M1_VALUES, decode_e8m0
from quantplan.runtime.kernels.buffers import scratch
from quantplan.runtime.kernels.choice import KernelChoice

__all__ = ["CHUNK_ROWS", "ChunkedFloatLinear", "chunked_reason"]

# Output rows decoded per matmul. NOTE: chosen by timing 64, 128 and 256 on 8 x
# Linear(4096, 4096) at M=1 (benchmarks/kernels.py, torch 2.13 CPU, 2 shared cores).
CHUNK_ROWS = 128

_CODES = torch.arange(256)
_E2M1_PAIRS_BF16 = torch.stack([E2M1_VALUES[_CODES & 0xF], E2M1_VALUES[_CODES >> 4]], dim=-1).to(torch.bfloat16)
_E2M1_PAIRS_AS_INT32 = _E2M1_PAIRS_BF16.contiguous().view(torch.int32).reshape(256)
_FP8_TABLES = {
    dtype: _CODES.to(torch.uint8).view(dtype).to(torch.bfloat16) for dtype in (torch.float8_e4m3fn, torch.float8_e5m2)
}


def chunked_reason(packed: PackedTensor) -> str:
    """Return why `ChunkedFloatLinear` cannot run `packed`, or "" when it can."""
    if len(packed.shape) != 2:
        return "the chunked float kernel needs a 2-D weight"
    rows, columns = packed.shape
    if packed.dtype in ("float8_e4m3fn", "float8_e5m2"):
        return "" if packed.block_shape == (1, columns) else "the chunked fp8 kernel needs one scale per output channel"
    if packed.dtype == "float4_e2m1fn_x2":
        block = packed.block_shape
        if block[0] != 1 or block[1] % 2 or columns % 2:
            return "the chunked MXFP4 kernel needs blocks of (1, B) with B and in_features even"
        return ""
    return f"{packed.dtype} is not a float format"


class ChunkedFloatLinear:
    """Linear over an fp8 (per-channel) or MXFP4 ((1, B) blocks) weight [N, K], matmul in bf16."""

    def __init__(self, packed: PackedTensor, *, name: str = "dequantize+bf16 linear"):
        self.packed = packed
        self.mxfp4 = packed.dtype == "float4_e2m1fn_x2"
        scale = decode_e8m0(packed.scale) if packed.scale_encoding == "e8m0" else packed.scale.to(torch.float32)
        if self.mxfp4:
            # Powers of two in [2^-127, 2^127] are exact in bf16.
            self.scale = scale.to(torch.bfloat16).unsqueeze(-1)
        else:
            self.scale = scale.reshape(-1)
        self.choice = KernelChoice(name=name, native=False)

    def decode_rows(self, start: int, stop: int, out: torch.Tensor) -> torch.Tensor:
        """Write the bf16 weight rows [start, stop) into `out` (shape [stop - start, K])."""
        data = self.packed.data[start:stop]
        if not self.mxfp4:
            indices = data.view(torch.uint8).reshape(-1).to(torch.int32)
            torch.index_select(_FP8_TABLES[data.dtype], 0, indices, out=out.view(-1))
            return out
        pairs = out.view(torch.int32).reshape(-1)
        torch.index_select(_E2M1_PAIRS_AS_INT32, 0, data.reshape(-1).to(torch.int32), out=pairs)
        blocks = out.view(stop - start, -1, self.packed.block_shape[1])
        blocks.mul_(self.scale[start:stop])
        return out

    def weight(self, device: torch.device) -> torch.Tensor:
        """Return the whole dequantized weight in bf16, in a pooled buffer (exact for MXFP4)."""
        full = scratch(self.packed.shape, torch.bfloat16, device)
        return self.decode_rows(0, self.packed.shape[0], full) if self.mxfp4 else self._fp8_weight(full)

    def _fp8_weight(self, full: torch.Tensor) -> torch.Tensor:
        full.copy_(self.packed.data.to(torch.float32).mul_(self.scale.reshape(-1, 1)))
        return full

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        rows, columns = self.packed.shape
        flat = x.reshape(-1, columns).to(torch.bfloat16)
        out = torch.empty((flat.shape[0], rows), dtype=torch.float32, device=x.device)
        buffer = scratch((CHUNK_ROWS, columns), torch.bfloat16, x.device)
        for start in range(0, rows, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, rows)
            decoded = self.decode_rows(start, stop, buffer[: stop - start])
            out[:, start:stop] = flat @ decoded.t()
        if not self.mxfp4:
            out.mul_(self.scale)
        if bias is not None:
            out.add_(bias)
        return out.reshape(*x.shape[:-1], rows).to(x.dtype)
