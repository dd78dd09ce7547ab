"""Cross-field rules of `QuantizationSpec`, checked once every field has converted."""

from __future__ import annotations

from typing import Any

import torch

from quantplan.errors import ErrorDetail
from quantplan.quantization.dtypes import element_type
from quantplan.quantization.schemes import QFormulation, QuantizationScheme


def cross_field_problems(values: dict[str, Any]) -> list[ErrorDetail]:
    """Return the problems of field combinations that are invalid together."""
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
