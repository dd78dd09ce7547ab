"""Kernels for quantized linears, chosen per tensor at apply time and recorded as `KernelChoice`."""

from quantplan.runtime.kernels.buffers import clear_buffers
from quantplan.runtime.kernels.choice import KernelChoice
from quantplan.runtime.kernels.dequant import DequantLinear, dequantize_into
from quantplan.runtime.kernels.select import (
    INT4_CROSSOVER_M,
    INT8_CROSSOVER_M,
    select_linear_kernel,
)

__all__ = [
    "INT4_CROSSOVER_M",
    "INT8_CROSSOVER_M",
    "DequantLinear",
    "KernelChoice",
    "clear_buffers",
    "dequantize_into",
    "select_linear_kernel",
]
