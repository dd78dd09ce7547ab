"""Real quantization: packed weights, kernels chosen per tensor, and the modules that hold them."""

from quantplan.runtime.real.convert import REAL_ATTRIBUTE, apply_real, convert, linear_targets
from quantplan.runtime.real.linear import QuantizedLinear

__all__ = ["REAL_ATTRIBUTE", "QuantizedLinear", "apply_real", "convert", "linear_targets"]
