"""A guard for plan JSON, which cannot hold NaN or infinity: name any such float before writing."""

from __future__ import annotations

import math
from typing import Any

from quantplan.errors import ErrorDetail, PlanError

__all__ = ["check_finite_data", "non_finite_paths"]


def non_finite_paths(data: Any, path: str = "$") -> list[tuple[str, float]]:
    """Return `(JSONPath, value)` for every NaN or infinite float inside `data`."""
    if isinstance(data, float):
        return [] if math.isfinite(data) else [(path, data)]
    if isinstance(data, dict):
        return [
            found
            for key, value in data.items()
            for found in non_finite_paths(value, f"{path}.{key}")
        ]
    if isinstance(data, (list, tuple)):
        return [
            found
            for index, value in enumerate(data)
            for found in non_finite_paths(value, f"{path}[{index}]")
        ]
    return []


def check_finite_data(data: Any, document: str = "plan", path: str = "$") -> None:
    """Raise PlanError naming every NaN or infinite float in `data`, which JSON cannot hold."""
    problems = [
        ErrorDetail(
            path=where,
            message=(
                f"the {document} holds the non-finite number {value!r}, which plan JSON cannot store; "
                "use finite numbers (for float_range, finite bounds)."
            ),
            value=value,
        )
        for where, value in non_finite_paths(data, path)
    ]
    if problems:
        raise PlanError(problems)
