"""Input-shape errors of graph-mode prepared models.

torch.export guards the input shapes it did not make dynamic (see `runtime_export`), and
its guard raises a bare AssertionError. `ShapeGuard` turns that into a PlanError that names
`dynamic_shapes`, the way to declare the dimensions that vary.
"""

from __future__ import annotations

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
                ErrorDetail(
                    path="inputs",
                    message=(
                        f"the prepared graph does not accept these input shapes ({error}). "
                        "torch.export fixed the dimensions that the model does not let vary "
                        "(a batch of 1 always, or a batch size the model's code depends on). "
                        "Prepare with dynamic_shapes= declaring the dimensions that vary, "
                        "for example Quantizer.prepare(inputs, "
                        "dynamic_shapes=({0: torch.export.Dim('batch')},)), "
                        "calibrate with the example's shapes, or use an eager-mode plan."
                    ),
                )
            ) from error


def guard_input_shapes(module: nn.Module) -> None:
    """Replace the `_guards_fn` of an unlifted exported module with a ShapeGuard around it."""
    guard = getattr(module, "_guards_fn", None)
    if isinstance(guard, nn.Module) and not isinstance(guard, ShapeGuard):
        module._guards_fn = ShapeGuard(guard)
