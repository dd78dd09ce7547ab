"""Check frozen qparams against the plan before any of them is applied."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.model import Plan

__all__ = ["check_qparams"]


def check_qparams(qparams: Mapping[str, torch.Tensor], plan: Plan) -> None:
    """Raise one PlanError naming every key with an invalid scale, zero point or shape.

    Scales must be finite and positive. Zero points must be finite integers (an integer dtype,
    or a float dtype with integral values), lie in the entry's [quant_min, quant_max] and have
    the scale's shape. A weight's scale must have the plan's `scale_shape`. Activation scales
    are not shape-checked because their shape follows the input.
    """
    specs = _specs_by_key(plan)
    problems = []
    for key in sorted(qparams):
        prefix, _, field = key.rpartition("/")
        problems.extend(
            _check_one(key, field, qparams[key], qparams.get(f"{prefix}/scale"), specs.get(prefix))
        )
    if problems:
        raise PlanError(problems)


def _specs_by_key(plan: Plan) -> dict:
    specs = {}
    for op in plan.ops:
        for group in ("inputs", "outputs"):
            for index, entry in getattr(op, group).items():
                if entry.spec is not None:
                    specs[f"ops/{op.name}/{group}/{index}"] = entry.spec
        for entry in op.state.values():
            if entry.spec is not None and entry.param is not None:
                specs.setdefault(f"params/{entry.param}", entry.spec)
    return specs


def _check_one(key, field, value, scale, spec) -> list[ErrorDetail]:
    if not isinstance(value, torch.Tensor):
        return [ErrorDetail(path=key, message=f"expected a tensor, got {type(value).__name__}.")]
    if field == "scale":
        return _check_scale(key, value, spec)
    if field == "zero_point":
        return _check_zero_point(key, value, scale, spec)
    return []


def _check_scale(key, scale, spec) -> list[ErrorDetail]:
    problems = []
    if not bool(torch.isfinite(scale).all()) or not bool((scale > 0).all()):
        problems.append(
            ErrorDetail(
                path=key,
                message="the scale must be finite and positive, but it contains NaN, inf, zero or negative values; recalibrate and freeze again.",
            )
        )
    if (
        spec is not None
        and key.startswith("params/")
        and all(isinstance(size, int) for size in spec.scale_shape)
    ):
        if list(scale.shape) != list(spec.scale_shape):
            problems.append(
                ErrorDetail(
                    path=key,
                    message=f"the scale has shape {list(scale.shape)}, but the plan expects {list(spec.scale_shape)}.",
                )
            )
    return problems


def _check_zero_point(key, zero_point, scale, spec) -> list[ErrorDetail]:
    problems = []
    if isinstance(scale, torch.Tensor) and zero_point.shape != scale.shape:
        problems.append(
            ErrorDetail(
                path=key,
                message=f"the zero point has shape {list(zero_point.shape)}, but its scale has shape {list(scale.shape)}.",
            )
        )
    non_integer = _first_non_integer(zero_point)
    if non_integer is not None:
        # The fixed-qparams path rounds the zero-point-free code rne(x / s), which equals the
        # general path's rne(x / s + zp) - zp only for integral zero points.
        problems.append(
            ErrorDetail(
                path=key,
                message=(
                    "the zero point must contain only finite integers, "
                    f"but it contains {non_integer}. Round the zero points to integers "
                    "(Quantizer.freeze stores them as int32), or recalibrate and freeze again."
                ),
            )
        )
    elif (
        spec is not None
        and spec.quant_min is not None
        and spec.quant_max is not None
        and zero_point.numel()
    ):
        low, high = int(zero_point.min()), int(zero_point.max())
        if low < spec.quant_min or high > spec.quant_max:
            problems.append(
                ErrorDetail(
                    path=key,
                    message=f"the zero point must lie in [{spec.quant_min}, {spec.quant_max}], got values from {low} to {high}.",
                )
            )
    return problems


def _first_non_integer(zero_point: torch.Tensor) -> float | None:
    """Return the first value that is NaN, infinite or fractional, or None where there is none."""
    if not zero_point.is_floating_point():
        return None
    invalid = ~torch.isfinite(zero_point) | (zero_point != torch.round(zero_point))
    if not bool(invalid.any()):
        return None
    return float(zero_point[invalid][0])
