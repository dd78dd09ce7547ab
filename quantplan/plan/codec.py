"""Canonical plan JSON: Plan <-> plain data <-> text.

Canonical means sorted keys, ops in the plan's (execution) order, 2-space indent, floats in
Python's shortest round-trip form, UTF-8 and a trailing newline, so the same plan always gives
the same bytes. Reading validates against the plan schema before building any object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.decode import build_plan
from quantplan.plan.encode import entry_to_data, plan_to_data
from quantplan.plan.model import PLAN_FORMAT, Plan

__all__ = [
    "dumps_canonical",
    "entry_to_data",
    "plan_from_data",
    "plan_from_file",
    "plan_from_json",
    "plan_to_data",
    "plan_to_json",
]


def dumps_canonical(data: Any) -> str:
    """Serialize JSON data canonically (sorted keys, 2-space indent, trailing newline).

    A NaN or infinite float raises PlanError naming its path.
    """
    from quantplan.plan.finite import check_finite_data

    check_finite_data(data)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def plan_to_json(plan: Plan) -> str:
    """Return the canonical JSON text of `plan`."""
    return dumps_canonical(plan_to_data(plan))


# --- text / data -> Plan --------------------------------------------------------------------


def plan_from_file(path: str | Path) -> Plan:
    """Read and validate the plan in `path`; every failure is a PlanError naming the file."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise PlanError(
            ErrorDetail(path="", message=f"cannot read plan file {str(path)!r}: {error.strerror}.")
        ) from None
    try:
        return plan_from_json(text)
    except PlanError as error:
        located = [
            attrs.evolve(detail, message=f"{detail.message} (in {path})") for detail in error.errors
        ]
        raise PlanError(located) from None


def plan_from_json(text: str | bytes) -> Plan:
    """Parse plan JSON text, check its format version and schema, then build the Plan."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlanError(
            ErrorDetail(path="$", message=f"the plan is not valid JSON: {error}.")
        ) from None
    return plan_from_data(data)


def plan_from_data(data: Any) -> Plan:
    """Validate plain plan data against the plan schema and build the Plan."""
    from quantplan.schema.plan_schema import plan_validation_errors

    _check_format(data)
    problems = plan_validation_errors(data)
    if problems:
        raise PlanError(problems)
    return build_plan(data)


def _check_format(data: Any) -> None:
    if not isinstance(data, dict):
        return
    version = data.get("format")
    if version is not None and version != PLAN_FORMAT:
        raise PlanError(
            ErrorDetail(
                path="$.format",
                message=(
                    f"unsupported plan format {version!r}; this quantplan reads {PLAN_FORMAT!r}. "
                    "Recompile the plan with this version of quantplan."
                ),
                value=version,
                expected=(PLAN_FORMAT,),
            )
        )
