"""A dynamic batch dimension for graph-mode prepared models.

torch.export guards every input shape, so a GraphModule exported on a batch of 8 rejects a
calibration batch of 4. When the plan declares no `dynamic_shapes`, apply exports the model
a second time with dimension 0 of every positional tensor input set to `Dim.AUTO`. torch
keeps that dimension dynamic where the model allows it and specializes it otherwise, which
it always does for an example batch of 1. That export serves the runtime only if it has every op of the plan's
capture, with the same type and inputs; the plan's static capture still checks the model.
A batch size the graph still cannot take raises PlanError naming `dynamic_shapes`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.export import Dim

from quantplan.compiler.capture import capture_model
from quantplan.compiler.capture.signature import split_example_inputs
from quantplan.compiler.graph import ModelGraph
from quantplan.errors import ErrorDetail, PlanError

__all__ = ["ShapeGuard", "guard_input_shapes", "recapture_with_dynamic_batch"]


def recapture_with_dynamic_batch(model: nn.Module, captured, example_inputs: Any):
    """Return a capture of `model` with a dynamic batch dimension, or `captured` if none fits."""
    args, kwargs = split_example_inputs(example_inputs)
    if kwargs or not any(isinstance(value, torch.Tensor) and value.dim() > 0 for value in args):
        # TODO: keyword and nested tensor inputs keep the static batch size of the example.
        return captured
    dynamic_shapes = tuple(
        {0: Dim.AUTO} if isinstance(value, torch.Tensor) and value.dim() > 0 else None
        for value in args
    )
    try:
        dynamic = capture_model(model, args, mode="graph", dynamic_shapes=dynamic_shapes)
    except PlanError:
        return captured
    return dynamic if _same_ops(captured.graph, dynamic.graph) else captured


def _same_ops(static: ModelGraph, dynamic: ModelGraph) -> bool:
    """Check that every op of `static` is in `dynamic` with the same type and producers."""
    ops = {op.name: op for op in dynamic.ops}
    for op in static.ops:
        match = ops.get(op.name)
        if match is None or match.type != op.type or match.input_producers != op.input_producers:
            return False
        if len(match.inputs) != len(op.inputs) or len(match.outputs) != len(op.outputs):
            return False
    return True


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
