"""Converters that normalize each `QuantizationSpec` field's accepted spellings at construction."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

import attrs

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.calculators import QPARAM_CALCULATORS, RANGE_CALCULATORS
from quantplan.quantization.dtypes import element_type, normalize_scale_dtype
from quantplan.quantization.fields import excerpt
from quantplan.quantization.granularity import granularity_from_value
from quantplan.quantization.schemes import QFormulation, QuantizationScheme


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


def convert_fields(raw: dict[str, object]) -> tuple[dict[str, Any], list[ErrorDetail]]:
    """Convert every raw field; return the converted values and all problems with their paths."""
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
