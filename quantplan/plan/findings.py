"""What a plan reports besides its entries: skipped tensors, diagnostics and the weight summary."""

from __future__ import annotations

from typing import Any

import attrs

from quantplan.errors import ErrorDetail, PlanError

__all__ = ["SEVERITIES", "Diagnostic", "Skipped", "Summary"]

SEVERITIES = ("info", "warning", "error")


def _check_skipped_target(instance: Skipped, attribute: attrs.Attribute, value: Any) -> None:
    if (instance.param is None) == (instance.tensor is None):
        raise PlanError(
            ErrorDetail(
                path="skipped",
                message=(
                    f"a skipped entry names exactly one of param or tensor, got "
                    f"param={instance.param!r}, tensor={instance.tensor!r}."
                ),
            )
        )


@attrs.frozen
class Skipped:
    """A tensor that a rule asked to quantize but that stays in float, with the reason.

    Exactly one of `param` (a parameter path) or `tensor` (an activation, such as
    `linear_1 input 0`) is set.
    """

    op: str
    reason: str
    rule: str
    param: str | None = None
    tensor: str | None = attrs.field(default=None, validator=_check_skipped_target)


@attrs.frozen
class Diagnostic:
    """A compiler finding that is not fatal: an unmatched rule, an overlap, a conflict, a default."""

    severity: str = attrs.field(validator=attrs.validators.in_(SEVERITIES))
    code: str
    message: str
    rule: str | None = None


@attrs.frozen
class Summary:
    """Totals over the candidate weights (state entries).

    `tensors` counts them per `dtype/granularity` (`int4/per_block`) or `float`.
    `weight_bytes_*` are the bytes of all candidate weights before and after quantization.
    `bits_per_weight_quantized` is over the quantized weights only (None when there are none);
    `bits_per_weight_candidates` is over all candidate weights. Both are rounded to 2 decimals.
    """

    tensors: dict[str, int] = attrs.field(
        factory=dict, converter=lambda value: dict(sorted(value.items()))
    )
    weight_bytes_before: int = 0
    weight_bytes_after: int = 0
    bits_per_weight_candidates: float | None = None
    bits_per_weight_quantized: float | None = None
