"""Fake-quantization numerics: block layouts, qparams, rounding, observers and the STE.

Every rule here matches the golden vectors bit for bit; see `scales`, `codes` and `grids`
for the exact formulas.
"""

from __future__ import annotations

from quantplan.runtime.numerics.blocks import resolve_block_shape
from quantplan.runtime.numerics.codes import dequantize_codes, quantize_codes
from quantplan.runtime.numerics.fake_quant import compute_qparams, fake_quantize
from quantplan.runtime.numerics.fixed import FixedFakeQuant, build_fixed_fake_quant
from quantplan.runtime.numerics.observers import Observer, make_observer
from quantplan.runtime.numerics.results import FakeQuantResult, QParams
from quantplan.runtime.numerics.ste import fake_quantize_with_qparams

__all__ = [
    "FakeQuantResult",
    "FixedFakeQuant",
    "Observer",
    "QParams",
    "build_fixed_fake_quant",
    "compute_qparams",
    "dequantize_codes",
    "fake_quantize",
    "fake_quantize_with_qparams",
    "make_observer",
    "quantize_codes",
    "resolve_block_shape",
]
