"""Real quantization: packed weights, kernels chosen per tensor, and the modules that hold them."""

from quantplan.runtime.real.convert import REAL_ATTRIBUTE, apply_real, convert
from quantplan.runtime.real.linear import QuantizedLinear
from quantplan.runtime.real.modules import (
    PackedWeightHolder,
    QuantizedConv,
    QuantizedEmbedding,
    QuantizedHFConv1D,
)
from quantplan.runtime.real.packed_module import PackedWeightModule

__all__ = [
    "REAL_ATTRIBUTE",
    "PackedWeightHolder",
    "PackedWeightModule",
    "QuantizedConv",
    "QuantizedEmbedding",
    "QuantizedHFConv1D",
    "QuantizedLinear",
    "apply_real",
    "convert",
]
