"""The exported program that a graph-mode prepared model is built from.

The plan's capture (a static export) checks the model against the plan. The prepared model
may need a second export, with two differences:

- a dynamic batch: torch.export guards every input shape, so a graph exported on a batch
  of 8 rejects a calibration batch of 4. When the plan declares no `dynamic_shapes`,
  dimension 0 of every positional tensor input gets `Dim.AUTO`. torch keeps it dynamic
  where the model allows it and specializes it otherwise, which it always does for an
  example batch of 1;
- module call signatures (`preserve_module_call_signature`) for modules with boundary
  quantizers, which map forward argument positions and outputs to graph nodes.

A second export is used only if every op of the plan's capture is a node in it, with the same
target and tensor inputs. Otherwise the plan's own export is used.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import fx, nn
from torch.export import Dim

from quantplan.compiler.capture.signature import split_example_inputs

__all__ = ["export_for_runtime"]


def export_for_runtime(
    model: nn.Module,
    captured,
    example_inputs: Any,
    *,
    dynamic_batch: bool,
    boundary_modules: tuple[str, ...],
) -> torch.export.ExportedProgram:
    """Return the program to build the prepared module from (see the module docstring)."""
    args, kwargs = split_example_inputs(example_inputs)
    batch = _batch_shapes(args, kwargs) if dynamic_batch else None
    candidates = [(batch, boundary_modules), (batch, ()), (None, boundary_modules)]
    for dynamic_shapes, preserve in candidates:
        if dynamic_shapes is None and not preserve:
            continue
        program = _try_export(model, args, kwargs, dynamic_shapes, preserve)
        if program is not None and _has_ops_of(program.graph, captured):
            return program
    return captured.exported


def _batch_shapes(args: tuple, kwargs: dict) -> tuple | None:
    if kwargs or not any(_batched(value) for value in args):
        # TODO: keyword and nested tensor inputs keep the static batch size of the example.
        return None
    return tuple({0: Dim.AUTO} if _batched(value) else None for value in args)


def _batched(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() > 0


def _try_export(
    model, args, kwargs, dynamic_shapes, preserve
) -> torch.export.ExportedProgram | None:
    was_training = model.training
    model.eval()
    try:
        return torch.export.export(
            model,
            args,
            kwargs,
            strict=False,
            dynamic_shapes=dynamic_shapes,
            preserve_module_call_signature=tuple(preserve),
        )
    except Exception:
        return None
    finally:
        model.train(was_training)


def _has_ops_of(candidate: fx.Graph, captured) -> bool:
    """Check that every op of the plan's capture is a node of `candidate` with the same inputs."""
    nodes = {node.name: node for node in candidate.nodes}
    for op in captured.graph.ops:
        node = captured.node_for(op.name)
        match = nodes.get(op.name)
        if (
            match is None
            or match.target != node.target
            or _tensor_inputs(match) != _tensor_inputs(node)
        ):
            return False
    return True


def _tensor_inputs(node: fx.Node) -> list[str]:
    return [
        _identity(item)
        for item in node.all_input_nodes
        if isinstance(item.meta.get("val"), torch.Tensor)
    ]


def _identity(node: fx.Node) -> str:
    # Two exports number `getitem` nodes differently, so an element of a multi-output op is
    # identified by its producer and index instead.
    if node.op == "call_function" and node.target is operator.getitem:
        return f"{_identity(node.args[0])}[{node.args[1]}]"
    return node.name
