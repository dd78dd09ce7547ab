"""`PackedTensor`: a quantized tensor in its portable storage form, with pack and dequantize.

Storage per element format (format version 1):

| dtype | data | scale | zero point |
|---|---|---|---|
| int8 / uint8 | int8 / uint8, tensor shape | float32 | int8 / uint8, asymmetric only |
| int4 / uint4 / int2 / uint2 | uint8, sub-byte layout (see `subbyte`) | float32 | int8 / uint8, asymmetric only |
| float8_e4m3fn / float8_e5m2 | torch float8 dtype, tensor shape | float32 | none |
| float4_e2m1fn_x2 (MXFP4) | uint8, E2M1 codes in the sub-byte layout | uint8 E8M0 bytes | none |

Symmetric integer specs store no zero point: the dtype implies it (0 for signed types,
2^(bits-1) for unsigned ones), and the layout records it as `implied_zero_point`.
Integer formats with e8m0 scales also store uint8 E8M0 bytes. The `minval` formulation stores
a float32 `minval` offset instead of the zero point. Scales and zero points have the
block-grid shape (tensor shape // block shape, same rank).
"""

from __future__ import annotations

import attrs
import torch

from quantplan.quantization.dtypes import ElementType, dtype_name
from quantplan.quantization.spec import QFormulation, QuantizationScheme, QuantizationSpec
from quantplan.runtime.formats.floats import (
    check_finite_fp8,
    decode_e2m1,
    decode_e8m0,
    encode_e2m1,
    encode_e8m0,
)
from quantplan.runtime.formats.subbyte import SUBBYTE_LAYOUT, pack_subbyte, unpack_subbyte

__all__ = [
    "FORMAT_VERSION",
    "PackedTensor",
    "dequantize",
    "empty_packed",
    "pack",
    "pack_codes",
    "unpack_codes",
    "unpack_qparams",
]

FORMAT_VERSION = 1
_FP4 = torch.float4_e2m1fn_x2


@attrs.frozen(eq=False)
class PackedTensor:
    """A quantized tensor in portable storage: codes in `data`, qparams beside them.

    `shape` is the logical (unpacked) shape; `block_shape` has the same rank. `scale_encoding`
    is `float32` or `e8m0` (uint8 bytes). Exactly one of `zero_point` and `minval` is set for
    asymmetric integer formats, and neither for float formats. Symmetric integer formats set
    `implied_zero_point` instead of storing a zero-point tensor.
    """

    dtype: str
    shape: tuple[int, ...]
    block_shape: tuple[int, ...]
    data: torch.Tensor
    scale: torch.Tensor
    scale_encoding: str
    zero_point: torch.Tensor | None = None
    minval: torch.Tensor | None = None
    implied_zero_point: int | None = None

    def zero_points(self) -> torch.Tensor | None:
        """Return the zero points on the block grid: stored, or filled with the implied value."""
        if self.zero_point is not None or self.implied_zero_point is None:
            return self.zero_point
        return torch.full(
            self.scale.shape, self.implied_zero_point, dtype=torch.int32, device=self.scale.device
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        """Return the stored tensors keyed by role: data, scale and zero_point or minval."""
        found = {
            "data": self.data,
            "scale": self.scale,
            "zero_point": self.zero_point,
            "minval": self.minval,
        }
        return {role: tensor for role, tensor in found.items() if tensor is not None}

    def layout(self) -> dict:
        """Return the JSON-able layout record that an artifact stores for this tensor."""
        record = {
            "dtype": self.dtype,
            "shape": list(self.shape),
            "block_shape": list(self.block_shape),
            "scale_encoding": self.scale_encoding,
            "storage": dtype_name(self.data.dtype),
        }
        if self.zero_point is not None:
            record["zero_point_storage"] = dtype_name(self.zero_point.dtype)
        if self.minval is not None:
            record["minval"] = True
        if self.implied_zero_point is not None:
            record["implied_zero_point"] = self.implied_zero_point
        if _is_subbyte(self.dtype):
            record["subbyte"] = dict(SUBBYTE_LAYOUT, bits=4 if self.dtype in _FOUR_BIT else 2)
        return record

    def nbytes(self) -> int:
        """Return the bytes of every stored tensor together."""
        return sum(tensor.numel() * tensor.element_size() for tensor in self.tensors().values())


_FOUR_BIT = {"int4", "uint4", "float4_e2m1fn_x2"}


def _is_subbyte(name: str) -> bool:
    return name in _FOUR_BIT or name in ("int2", "uint2")


def pack(
    x: torch.Tensor,
    qparams,
    spec: QuantizationSpec,
    block_shape: tuple[int, ...],
    *,
    name: str | None = None,
) -> PackedTensor:
    """Quantize `x` with `qparams` through the numerics and pack the codes."""
    from quantplan.runtime.numerics import quantize_codes

    codes = quantize_codes(x, qparams, spec, tuple(block_shape))
    return pack_codes(codes, qparams, spec, tuple(x.shape), tuple(block_shape), name=name)


def pack_codes(
    codes: torch.Tensor,
    qparams,
    spec: QuantizationSpec,
    shape: tuple[int, ...],
    block_shape: tuple[int, ...],
    *,
    name: str | None = None,
) -> PackedTensor:
    """Pack numerics codes (int32 integer codes, or float32 grid values for float formats)."""
    element = spec.element
    data = _pack_data(codes, spec, element, name)
    e8m0 = spec.effective_scale_dtype == torch.float8_e8m0fnu
    scale = (
        encode_e8m0(qparams.scale, name=name)
        if e8m0
        else qparams.scale.to(torch.float32).contiguous()
    )
    zero_point, minval = _offsets(qparams, spec, element)
    implied = _implied_zero_point(spec, element)
    return PackedTensor(
        dtype=element.name,
        shape=tuple(int(size) for size in shape),
        block_shape=tuple(int(size) for size in block_shape),
        data=data,
        scale=scale,
        scale_encoding="e8m0" if e8m0 else "float32",
        zero_point=zero_point,
        minval=minval,
        implied_zero_point=implied,
    )


def _implied_zero_point(spec: QuantizationSpec, element: ElementType) -> int | None:
    symmetric = (
        spec.qscheme is not QuantizationScheme.ASYMMETRIC and spec.qformulation is QFormulation.ZP
    )
    if element.is_float or not symmetric:
        return None
    return 0 if element.signed else 1 << (element.bits - 1)


def _pack_data(
    codes: torch.Tensor, spec: QuantizationSpec, element: ElementType, name: str | None
) -> torch.Tensor:
    if spec.dtype == _FP4:
        return pack_subbyte(encode_e2m1(codes, name=name), 4, signed=False, name=name)
    if element.is_float:
        data = codes.to(spec.dtype).contiguous()
        check_finite_fp8(data, name=name)
        return data
    if element.bits < 8:
        return pack_subbyte(codes, element.bits, signed=element.signed, name=name)
    return codes.to(torch.int8 if element.signed else torch.uint8).contiguous()


def _offsets(
    qparams, spec: QuantizationSpec, element: ElementType
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if element.is_float:
        return None, None
    if spec.qformulation is QFormulation.MINVAL:
        return None, qparams.minval.to(torch.float32).contiguous()
    if _implied_zero_point(spec, element) is not None:
        _check_implied(qparams, _implied_zero_point(spec, element))
        return None, None
    storage = torch.int8 if element.signed else torch.uint8
    return qparams.zero_point.to(storage).contiguous(), None


def _check_implied(qparams, implied: int) -> None:
    zero_point = qparams.zero_point
    if zero_point is not None and bool((zero_point != implied).any()):
        raise ValueError(
            f"a symmetric spec implies zero point {implied}, but the qparams hold other values; they do not belong to this spec."
        )


def empty_packed(layout: dict, device: torch.device) -> PackedTensor:
    """Return a PackedTensor of `layout` (from `PackedTensor.layout()`) with uninitialized storage."""
    shape = tuple(layout["shape"])
    block = tuple(layout["block_shape"])
    grid = tuple(size // extent for size, extent in zip(shape, block, strict=True))
    dtype = layout["dtype"]
    bits = 4 if dtype in _FOUR_BIT else 2 if dtype in ("int2", "uint2") else 8
    data_shape = (*shape[:-1], -(-shape[-1] // (8 // bits))) if bits < 8 else shape
    storage = getattr(torch, layout["storage"])
    scale_dtype = torch.uint8 if layout["scale_encoding"] == "e8m0" else torch.float32
    offsets = {}
    if "zero_point_storage" in layout:
        offsets["zero_point"] = torch.empty(
            grid, dtype=getattr(torch, layout["zero_point_storage"]), device=device
        )
    if layout.get("minval"):
        offsets["minval"] = torch.empty(grid, dtype=torch.float32, device=device)
    return PackedTensor(
        dtype=dtype,
        shape=shape,
        block_shape=block,
        data=torch.empty(data_shape, dtype=storage, device=device),
        scale=torch.empty(grid, dtype=scale_dtype, device=device),
        scale_encoding=layout["scale_encoding"],
        implied_zero_point=layout.get("implied_zero_point"),
        **offsets,
    )


def unpack_codes(packed: PackedTensor) -> torch.Tensor:
    """Return the numerics codes of `packed`: int32 for integer formats, float32 grid values otherwise."""
    if packed.dtype == "float4_e2m1fn_x2":
        return decode_e2m1(unpack_subbyte(packed.data, packed.shape, 4, signed=False))
    if packed.data.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        return packed.data.to(torch.float32)
    if _is_subbyte(packed.dtype):
        bits = 4 if packed.dtype in _FOUR_BIT else 2
        return unpack_subbyte(
            packed.data, packed.shape, bits, signed=not packed.dtype.startswith("u")
        )
    return packed.data.to(torch.int32)


def unpack_qparams(packed: PackedTensor):
    """Return the numerics `QParams` (float32 scale, int32 zero point) of `packed`."""
    from quantplan.runtime.numerics import QParams

    scale = decode_e8m0(packed.scale) if packed.scale_encoding == "e8m0" else packed.scale
    zero_points = packed.zero_points()
    zero_point = None if zero_points is None else zero_points.to(torch.int32)
    return QParams(scale=scale, zero_point=zero_point, minval=packed.minval)


def dequantize(
    packed: PackedTensor, spec: QuantizationSpec, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Return the dequantized tensor; equals the numerics' fake quantization bit for bit."""
    from quantplan.runtime.numerics import dequantize_codes

    return dequantize_codes(
        unpack_codes(packed), unpack_qparams(packed), spec, packed.block_shape, dtype
    )
