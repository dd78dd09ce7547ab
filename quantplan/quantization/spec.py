"""`QuantizationSpec`: how one tensor is quantized.

Specs are frozen and hashable. Every accepted spelling is normalized at construction, so
`QuantizationSpec(dtype="int8", granularity={"type": "per_tensor"})` equals the spec built
from `torch.int8` and `PerTensorGranularity()`. Construction checks every field and every
cross-field rule, then raises one ConfigError that lists all problems.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

import attrs
import torch

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.arguments import argument_errors
from quantplan.quantization.calculators import (
    QPARAM_CALCULATORS,
    RANGE_CALCULATORS,
    DynamicQParamsCalculator,
    GlobalMinMaxQParamsCalculator,
    MinMaxRangeCalculator,
    MovingAverageQParamsCalculator,
    MSERangeCalculator,
    StaticQParamsCalculator,
)
from quantplan.quantization.dtypes import ElementType, element_type, normalize_scale_dtype
from quantplan.quantization.fields import excerpt, reject_unknown_keywords
from quantplan.quantization.granularity import (
    Granularity,
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
    granularity_from_value,
)

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


class QuantizationScheme(str, enum.Enum):
    """How the integer range is placed around zero."""

    SYMMETRIC = "symmetric"
    SYMMETRIC_WITH_CLIPPING = "symmetric_with_clipping"
    ASYMMETRIC = "asymmetric"

    def __str__(self) -> str:
        return self.value


class QFormulation(str, enum.Enum):
    """`zp` stores a zero point; `minval` stores the range minimum as an offset instead."""

    ZP = "zp"
    MINVAL = "minval"

    def __str__(self) -> str:
        return self.value


def _describe(text: str) -> dict[str, str]:
    """Field metadata; the JSON Schema generator shows `description` in editors."""
    return {"description": text}


def _enum_value(enum_cls: type[enum.Enum], field: str) -> Callable[[object], enum.Enum]:
    def convert(value: object) -> enum.Enum:
        if isinstance(value, enum_cls):
            return value
        for member in enum_cls:
            if value == member.value:
                return member
        names = [member.value for member in enum_cls]
        lowered = str(value).lower()
        suggestion = lowered if lowered in names else None
        raise ConfigError(
            ErrorDetail(
                path=field,
                message=(
                    f"invalid {field} {excerpt(value)}. Use "
                    f"one of: {', '.join(names)} (lower case)."
                ),
                value=value,
                expected=tuple(names),
                suggestion=suggestion,
            )
        )

    return convert


def _float_range(value: object) -> tuple[float | None, float | None]:
    problem = _float_range_problem(value)
    if problem:
        raise ConfigError(
            ErrorDetail(
                path="float_range",
                message=f"invalid float_range {excerpt(value)}: {problem}",
                value=value,
            )
        )
    low, high = value  # type: ignore[misc]
    return (None if low is None else float(low), None if high is None else float(high))


def _float_range_problem(value: object) -> str | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return "it must be a list of two entries [min, max], each a number or null."
    if any(
        isinstance(bound, bool) or not isinstance(bound, int | float | type(None))
        for bound in value
    ):
        return "each entry must be a number or null."
    if any(bound is not None and not _is_finite(bound) for bound in value):
        return "each entry must be a finite number or null; NaN and infinity are not allowed."
    low, high = value
    if low is not None and low > 0:
        return "min must be <= 0, because the range always contains zero."
    if high is not None and high < 0:
        return "max must be >= 0, because the range always contains zero."
    if low is not None and high is not None and not low < high:
        return "min must be smaller than max."
    return None


def _is_finite(bound: float) -> bool:
    try:
        return math.isfinite(bound)
    except OverflowError:  # an int too large for a float
        return False


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "dtype": lambda value: element_type(value).dtype,
    "qscheme": _enum_value(QuantizationScheme, "qscheme"),
    "qformulation": _enum_value(QFormulation, "qformulation"),
    "granularity": granularity_from_value,
    "qparam_calculator_cls": QPARAM_CALCULATORS.normalize,
    "range_calculator_cls": RANGE_CALCULATORS.normalize,
    "float_range": _float_range,
    "scale_dtype": normalize_scale_dtype,
}


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
        values, problems = _convert_fields(raw)
        if not problems:
            problems = _cross_field_problems(values)
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


def _convert_fields(raw: dict[str, object]) -> tuple[dict[str, Any], list[ErrorDetail]]:
    values: dict[str, Any] = {}
    problems: list[ErrorDetail] = []
    for name, value in raw.items():
        try:
            values[name] = _CONVERTERS[name](value)
        except ConfigError as error:
            prefix = "granularity" if name == "granularity" else ""
            problems += [_located(detail, name, prefix) for detail in error.errors]
    return values, problems


def _located(detail: ErrorDetail, name: str, prefix: str) -> ErrorDetail:
    if prefix:
        return detail.with_prefix(prefix)
    return detail if detail.path else attrs.evolve(detail, path=name)


def _cross_field_problems(values: dict[str, Any]) -> list[ErrorDetail]:
    element = element_type(values["dtype"])
    scheme, formulation = values["qscheme"], values["qformulation"]
    return [
        *_float_format_problems(element, scheme, formulation),
        *_e8m0_scale_problems(element, scheme, formulation, values["scale_dtype"]),
        *_dynamic_calculator_problems(scheme, values),
    ]


def _float_format_problems(element: Any, scheme: Any, formulation: Any) -> list[ErrorDetail]:
    problems = []
    if element.is_float and scheme is not QuantizationScheme.SYMMETRIC:
        problems.append(
            ErrorDetail(
                path="qscheme",
                message=f"{element.name} allows only qscheme 'symmetric', got {scheme.value!r}.",
                value=scheme,
            )
        )
    if element.is_float and formulation is not QFormulation.ZP:
        problems.append(
            ErrorDetail(
                path="qformulation",
                message=(
                    f"{element.name} allows only qformulation 'zp', got {formulation.value!r}."
                ),
                value=formulation,
            )
        )
    return problems


def _e8m0_scale_problems(
    element: Any, scheme: Any, formulation: Any, scale_dtype: Any
) -> list[ErrorDetail]:
    if scale_dtype != torch.float8_e8m0fnu:
        return []
    if element.mx_exponent_offset is None:
        message = (
            f"float8_e8m0fnu scales are defined only for int8, float8_e4m3fn, float8_e5m2 "
            f"and float4_e2m1fn_x2, not {element.name}; remove scale_dtype."
        )
        return [ErrorDetail(path="scale_dtype", message=message, value=scale_dtype)]
    if not element.is_float and scheme is not QuantizationScheme.SYMMETRIC:
        message = f"float8_e8m0fnu scales need qscheme 'symmetric', got {scheme.value!r}."
        return [ErrorDetail(path="qscheme", message=message, value=scheme)]
    if not element.is_float and formulation is not QFormulation.ZP:
        message = "float8_e8m0fnu scales need qformulation 'zp'."
        return [ErrorDetail(path="qformulation", message=message, value=formulation)]
    return []


def _dynamic_calculator_problems(scheme: Any, values: dict[str, Any]) -> list[ErrorDetail]:
    if values["qparam_calculator_cls"] != "dynamic":
        return []
    problems = []
    if scheme is QuantizationScheme.SYMMETRIC_WITH_CLIPPING:
        problems.append(
            ErrorDetail(
                path="qscheme",
                message="the dynamic calculator does not support symmetric_with_clipping.",
                value=scheme,
            )
        )
    if values["float_range"] != (None, None):
        problems.append(
            ErrorDetail(
                path="float_range",
                message=(
                    "the dynamic calculator computes its range from every tensor, "
                    "so float_range must be [null, null]."
                ),
                value=values["float_range"],
            )
        )
    return problems


def default_weight_quantization_spec() -> QuantizationSpec:
    """Return int8 symmetric per-channel; the compiler resolves the axis and calculator (static)."""
    return QuantizationSpec(dtype=torch.int8, granularity=PerChannelGranularity())


def default_activation_quantization_spec() -> QuantizationSpec:
    """int8 symmetric per-tensor; the calculator resolves by role (moving_average)."""
    return QuantizationSpec(dtype=torch.int8, granularity=PerTensorGranularity())
