"""Turn capture failures into PlanErrors that name the mode, the construct and the fix."""

from __future__ import annotations

import re
from typing import Any

from quantplan.errors import PlanError

__all__ = ["capture_error"]

_USER_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\w+)\s*\n\s*(.+)')


def capture_error(
    mode: str, error: BaseException, *, strict: bool = False, dynamic_shapes: Any = None
) -> PlanError:
    """Build the PlanError for a failed capture in `mode` ("graph" or "eager")."""
    text = str(error)
    method = f"torch.export(strict={strict})" if mode == "graph" else "eager forward"
    head = f"{mode}-mode capture ({method}) failed"
    if mode == "eager":
        return PlanError(
            f"{head}: {type(error).__name__}: {_first_line(text)}. The model's forward raised "
            "this on the example inputs; check the inputs, or capture with "
            'execution_mode="graph"'
        )
    return PlanError(f"{head}: {_explain_export_failure(error, text, strict, dynamic_shapes)}")


def _explain_export_failure(
    error: BaseException, text: str, strict: bool, dynamic_shapes: Any
) -> str:
    where = _user_location(text)
    lowered = text.lower()
    if "data-dependent" in lowered or "data dependent" in lowered:
        return (
            f"a value-dependent branch or shape{where} (Python control flow on tensor values, "
            "such as `if x.abs().max() > 1:` or `.item()`) cannot be exported. Rewrite it with "
            'torch.cond or torch.where, or capture with execution_mode="eager"'
        )
    if _is_specialization(lowered):
        return (
            f"a dimension declared dynamic in dynamic_shapes was specialized to a constant{where}: "
            f"{_first_line(text)}. If the example size is 0 or 1 (for example a batch of 1), "
            "torch.export treats it as a constant: give an example input with at least 2 "
            "there, keep Dim('batch', min=1) and re-export, or pass "
            "torch.export.Dim.AUTO to let export record the specialization instead of failing"
        )
    if "guard" in lowered and dynamic_shapes is not None:
        return (
            f"a shape-dependent branch{where} does not hold for every size allowed by "
            f"dynamic_shapes: {_first_line(text)}. Narrow the Dim's min/max to one side of "
            'the branch, make that dimension static, or capture with execution_mode="eager"'
        )
    return (
        f"{type(error).__name__}: {_first_line(text)}. Try strict={not strict}, "
        'pass dynamic_shapes for inputs whose sizes vary, or capture with execution_mode="eager"'
    )


def _is_specialization(lowered: str) -> bool:
    markers = (
        "specialized",
        "inferred to be a constant",
        "constraints violated",
        "0/1 specialization",
    )
    return any(marker in lowered for marker in markers)


def _user_location(text: str) -> str:
    frames = [match for match in _USER_FRAME.finditer(text) if "site-packages" not in match[1]]
    if not frames:
        return ""
    frame = frames[-1]
    return f" at {frame[1]}:{frame[2]} in {frame[3]} (`{frame[4].strip()}`)"


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return "no message"
