"""Checks of the role and calculator of a quantizer, made when it is built.

`default` resolves by role: `static` for weights, `moving_average` for activations.
"""

from __future__ import annotations

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.spec import QuantizationSpec

__all__ = ["ROLES", "check_role", "resolve_calculator"]

ROLES = ("weight", "activation")


def check_role(role: object, name: str | None = None) -> str:
    """Return `role` if it is 'weight' or 'activation'; raise ConfigError otherwise."""
    if role not in ROLES:
        raise ConfigError(
            ErrorDetail(
                path=name or "role",
                message=f"invalid role {role!r}; use 'weight' or 'activation'.",
                value=role,
                expected=ROLES,
            )
        )
    return role  # type: ignore[return-value]


def resolve_calculator(spec: QuantizationSpec, role: str, name: str | None = None) -> str:
    """Return the qparam calculator in force for `role`; raise ConfigError for invalid pairs."""
    check_role(role, name)
    calculator = spec.qparam_calculator_cls
    if calculator == "default":
        return "static" if role == "weight" else "moving_average"
    if calculator == "dynamic" and role == "weight":
        raise ConfigError(
            ErrorDetail(
                path=f"{name}.qparam_calculator_cls" if name else "qparam_calculator_cls",
                message=(
                    "the dynamic calculator is for activations only, but this quantizer is for a "
                    "weight; use 'static' (or 'default') for weights."
                ),
                value=calculator,
            )
        )
    if calculator == "dynamic" and spec.float_range != (None, None):
        raise ConfigError(
            ErrorDetail(
                path=f"{name}.float_range" if name else "float_range",
                message=(
                    "the dynamic calculator computes its range from every tensor, "
                    "so float_range must be [null, null]."
                ),
                value=spec.float_range,
            )
        )
    return calculator
