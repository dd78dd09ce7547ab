"""Capture a model into the ModelGraph IR, in graph mode (torch.export) or eager mode.

>>> captured = capture_model(nn.Sequential(nn.Linear(4, 2)), (torch.zeros(1, 4),))
>>> [(op.name, op.type, op.module) for op in captured.graph.ops]
[('linear', 'linear', '0')]
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import fx, nn

from quantplan.compiler.capture.signature import (
    describe_inputs,
    dynamic_shapes_from_signature,
    inputs_from_signature,
    split_example_inputs,
)
from quantplan.compiler.graph import ModelGraph
from quantplan.errors import PlanError

__all__ = [
    "Captured",
    "capture_model",
    "describe_inputs",
    "dynamic_shapes_from_signature",
    "inputs_from_signature",
]

_MODES = ("graph", "eager")


@attrs.frozen
class Captured:
    """A captured model: its ModelGraph, plus the exported program in graph mode."""

    graph: ModelGraph
    exported: torch.export.ExportedProgram | None = None

    def node_for(self, op_name: str) -> fx.Node:
        """Return the export graph node of op `op_name` (graph mode only)."""
        if self.exported is None:
            raise PlanError(f"op {op_name!r} has no graph node: this capture ran in eager mode")
        for node in self.exported.graph.nodes:
            if node.name == op_name:
                return node
        raise PlanError(f"op {op_name!r} is not a node of the exported graph")


def capture_model(
    model: nn.Module,
    example_inputs: Any,
    *,
    mode: str = "graph",
    strict: bool = False,
    dynamic_shapes: Any = None,
) -> Captured:
    """Capture `model` on `example_inputs` into a ModelGraph.

    `mode="graph"` exports with torch.export (non-strict unless `strict`), in eval mode, with
    `dynamic_shapes` passed through. `mode="eager"` runs forward once and records every torch
    function call. Either way the model's training flag is restored and no weight is changed.
    """
    if not isinstance(model, nn.Module):
        raise PlanError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    args, kwargs = split_example_inputs(example_inputs)
    if mode == "graph":
        from quantplan.compiler.capture.graph_mode import capture_graph
        from quantplan.compiler.capture.quiet import quiet_torch_logs

        with quiet_torch_logs():
            graph, program = capture_graph(
                model, args, kwargs, strict=strict, dynamic_shapes=dynamic_shapes
            )
        return Captured(graph=graph, exported=program)
    if mode == "eager":
        from quantplan.compiler.capture.eager import capture_eager

        return Captured(graph=capture_eager(model, args, kwargs))
    raise PlanError(f"capture mode {mode!r} is invalid; expected one of {', '.join(_MODES)}")
