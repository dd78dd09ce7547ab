"""Portable storage of quantized tensors: packing, unpacking and dequantization per format."""

from quantplan.runtime.formats.packed import (
    FORMAT_VERSION,
    PackedTensor,
    dequantize,
    empty_packed,
    pack,
    pack_codes,
    unpack_codes,
    unpack_qparams,
)
from quantplan.runtime.formats.subbyte import SUBBYTE_LAYOUT, pack_subbyte, unpack_subbyte

__all__ = [
    "FORMAT_VERSION",
    "SUBBYTE_LAYOUT",
    "PackedTensor",
    "dequantize",
    "empty_packed",
    "pack",
    "pack_codes",
    "pack_subbyte",
    "unpack_codes",
    "unpack_qparams",
    "unpack_subbyte",
]
