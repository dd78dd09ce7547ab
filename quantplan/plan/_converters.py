"""Attrs converters that the plan classes share: tuples, sorted entry maps, plain JSON data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def int_tuple(value: Any) -> tuple:
    return tuple(value)


def optional_tuple(value: Any) -> tuple | None:
    return None if value is None else tuple(value)


def json_data(value: Any) -> Any:
    """Copy `value` as plain JSON data (lists, string keys), so equality survives a round trip.

    A NaN or infinite float raises PlanError naming it, because plan JSON cannot hold one.
    """
    from quantplan.plan.finite import check_finite_data

    check_finite_data(value)
    return json.loads(json.dumps(value, allow_nan=False))


def index_map(value: Mapping) -> dict[int, Any]:
    """Key an inputs/outputs mapping by int index, sorted; digit strings are accepted."""
    return {int(key): entry for key, entry in sorted(value.items(), key=lambda item: int(item[0]))}


def name_map(value: Mapping) -> dict[str, Any]:
    return {str(key): entry for key, entry in sorted(value.items())}
