"""`QuantizationSpec`: how one tensor is quantized.

Specs are frozen and hashable. Every accepted spelling is normalized at construction, so
`QuantizationSpec(dtype="int8", granularity={"type": "per_tensor"})` equals the spec built
from `torch.int8` and `PerTensorGranularity()`. Construction checks every field and every
cross-field rule, then raises one ConfigError that lists all problems.
"""

from __future__ import annotations

import attrs
import torch

from quantplan.errors import ConfigError
from quantplan.quantization._spec_checks import cross_field_problems
from quantplan.quantization._spec_converters import convert_fields
from quantplan.quantization.arguments import argument_errors
from quantplan.quantization.calculators import (
    DynamicQParamsCalculator,
    GlobalMinMaxQParamsCalculator,
    MinMaxRangeCalculator,
    MovingAverageQParamsCalculator,
    MSERangeCalculator,
    StaticQParamsCalculator,
)
from quantplan.quantization.dtypes import ElementType, element_type
from quantplan.quantization.fields import reject_unknown_keywords
from quantplan.quantization.granularity import (
    Granularity,
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
)
from quantplan.quantization.schemes import QFormulation, QuantizationScheme

__all__ = [
    "DynamicQParamsCalculator",
    "GlobalMinMaxQParamsCalculator",
    "MSERangeCalculator",
    "MinMaxRangeCalculator",
    "MovingAverageQParamsCalculator",
    "PerBlockGranularity",
    "PerChannelGranularity",
    "PerTensorGranularity",
    "QFormulation",
    "QuantizationScheme",
    "QuantizationSpec",
    "StaticQParamsCalculator",
    "default_activation_quantization_spec",
    "default_weight_quantization_spec",
]


def _describe(text: str) -> dict[str, str]:
    """Field metadata; the JSON Schema generator shows `description` in editors."""
    return {"description": text}


@argument_errors
@attrs.frozen(init=False)
class QuantizationSpec:
    """How one tensor is quantized.

    Invariants after construction: `dtype` is a supported torch dtype, `qscheme` and
    `qformulation` are enum members, `granularity` is a granularity instance, the calculator
    fields hold registered names, and `float_range` is a pair of floats or None.
    An omitted granularity axis stays None; the compiler resolves it per op.
    """

    dtype: torch.dtype = attrs.field(
        metadata=_describe("Element type of the quantized values (default int8).")
    )
    qscheme: QuantizationScheme = attrs.field(
        metadata=_describe("Placement of the integer range around zero (default symmetric).")
    )
    qformulation: QFormulation = attrs.field(
        metadata=_describe("zp stores a zero point (default); minval stores the range minimum.")
    )
    granularity: Granularity = attrs.field(
        metadata=_describe(
            "How the tensor is split into blocks that share a scale (default per_tensor)."
        )
    )
    qparam_calculator_cls: str = attrs.field(
        metadata=_describe(
            "Qparam calculator; default resolves to static for weights "
            "and moving_average for activations."
        )
    )
    range_calculator_cls: str = attrs.field(
        metadata=_describe("How each block's range is chosen: minmax (default) or mse.")
    )
    float_range: tuple[float | None, float | None] = attrs.field(
        metadata=_describe("Fixed [min, max] range bounds; null entries are computed from data.")
    )
    scale_dtype: torch.dtype | None = attrs.field(
        metadata=_describe(
            "Scale dtype: null for float32, or float8_e8m0fnu for power-of-two (MX) scales."
        )
    )

    def __init__(
        self,
        *,
        dtype: object = torch.int8,
        qscheme: object = QuantizationScheme.SYMMETRIC,
        qformulation: object = QFormulation.ZP,
        granularity: object = None,
        qparam_calculator_cls: object = "default",
        range_calculator_cls: object = "minmax",
        float_range: object = (None, None),
        scale_dtype: object = None,
        **unknown: object,
    ):
        reject_unknown_keywords(type(self), unknown)
        raw = {
            "dtype": dtype,
            "qscheme": qscheme,
            "qformulation": qformulation,
            "granularity": PerTensorGranularity() if granularity is None else granularity,
            "qparam_calculator_cls": qparam_calculator_cls,
            "range_calculator_cls": range_calculator_cls,
            "float_range": (None, None) if float_range is None else float_range,
            "scale_dtype": scale_dtype,
        }
        values, problems = convert_fields(raw)
        if not problems:
            problems = cross_field_problems(values)
        if problems:
            raise ConfigError(problems)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def element(self) -> ElementType:
        """The element format of `dtype`."""
        return element_type(self.dtype)

    @property
    def n_bits(self) -> int:
        """Bits per quantized element."""
        return self.element.bits

    @property
    def is_float(self) -> bool:
        """Whether the element format is a float format (fp8 or fp4)."""
        return self.element.is_float

    @property
    def quant_min(self) -> int | float:
        """The lowest code (integers) or -fmax (float formats)."""
        return self._range()[0]

    @property
    def quant_max(self) -> int | float:
        """The highest code (integers) or fmax (float formats)."""
        return self._range()[1]

    @property
    def effective_scale_dtype(self) -> torch.dtype:
        """The scale dtype in force: fp4 always uses e8m0, None means float32."""
        if self.dtype == torch.float4_e2m1fn_x2:
            return torch.float8_e8m0fnu
        return torch.float32 if self.scale_dtype is None else self.scale_dtype

    def _range(self) -> tuple[int | float, int | float]:
        element = self.element
        if element.is_float:
            return -element.fmax, element.fmax  # type: ignore[operator]
        if self.effective_scale_dtype == torch.float8_e8m0fnu:
            return element.integer_range(clipped=False)
        clipped = self.qscheme is QuantizationScheme.SYMMETRIC_WITH_CLIPPING
        return element.integer_range(clipped=clipped)


def default_weight_quantization_spec() -> QuantizationSpec:
    """Return int8 symmetric per-channel; the compiler resolves the axis and calculator (static)."""
    return QuantizationSpec(dtype=torch.int8, granularity=PerChannelGranularity())


def default_activation_quantization_spec() -> QuantizationSpec:
    """int8 symmetric per-tensor; the calculator resolves by role (moving_average)."""
    return QuantizationSpec(dtype=torch.int8, granularity=PerTensorGranularity())
