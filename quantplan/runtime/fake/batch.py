"""Input-shape errors of graph-mode prepared models.

torch.export guards the input shapes it did not make dynamic (see `runtime_export`), and
its guard raises a bare AssertionError. `ShapeGuard` turns that into a PlanError that names
`dynamic_shapes`, the way to declare the dimensions that vary.
"""

from __future__ import annotations

import re

from torch import nn

from quantplan.errors import ErrorDetail, PlanError

__all__ = ["ShapeGuard", "guard_input_shapes"]


class ShapeGuard(nn.Module):
    """Wraps torch.export's input guard so a rejected shape raises PlanError with the fix."""

    def __init__(self, guard: nn.Module):
        super().__init__()
        self.guard = guard

    def forward(self, *args, **kwargs):
        try:
            return self.guard(*args, **kwargs)
        except AssertionError as error:
            raise PlanError(
                ErrorDetail(path="inputs", message=_shape_message(str(error)))
            ) from error


def _shape_message(guard: str) -> str:
    """Describe a failed guard such as `Guard failed: ids.size()[1] == 7` and how to fix it."""
    match = _SIZE_GUARD.search(guard)
    if match is None:
        problem = f"the prepared graph does not accept these input shapes ({guard})."
        dimension = "0"
    else:
        name, dimension, size = match.groups()
        problem = (
            f"input {name!r}: dimension {dimension} is fixed at {size} in the prepared graph "
            f"and this batch has another size ({guard})."
        )
    return (
        f"{problem} torch.export fixed the dimensions that the model does not let vary "
        "(a size of 1 always, or a size the model's code depends on). "
        "Compile the plan with dynamic_shapes= declaring the dimensions that vary, for example "
        f"Quantizer.prepare(inputs, dynamic_shapes=({{{dimension}: torch.export.Dim.DYNAMIC}},)) "
        "or compile_plan(..., dynamic_shapes=...); the quantplan CLI cannot declare them, so there "
        "calibrate with the example's shapes, or use an eager-mode plan."
    )


_SIZE_GUARD = re.compile(r"(\w+)\.size\(\)\[(\d+)\] == (\d+)")


def guard_input_shapes(module: nn.Module) -> None:
    """Replace the `_guards_fn` of an unlifted exported module with a ShapeGuard around it."""
    guard = getattr(module, "_guards_fn", None)
    if isinstance(guard, nn.Module) and not isinstance(guard, ShapeGuard):
        module._guards_fn = ShapeGuard(guard)
