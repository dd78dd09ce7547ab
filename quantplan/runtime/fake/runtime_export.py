"""The exported program that a graph-mode prepared model is built from.

The plan's capture (a static export) checks the model against the plan. The prepared model
may need a second export, with two differences:

- dynamic input shapes: torch.export guards every input shape, so a graph exported on a
  batch of 8 with 7 tokens rejects a calibration batch of 4 or of 9 tokens. When the plan
  declares no `dynamic_shapes`, every dimension of every tensor input gets `Dim.AUTO`.
  torch keeps a dimension dynamic where the model allows it and specializes it otherwise,
  which it always does for a size of 1. If that export fails, only dimension 0 (the batch)
  gets `Dim.AUTO`, and if that fails too, the shapes stay static;
- module call signatures (`preserve_module_call_signature`) for modules with boundary
  quantizers, which map forward argument positions and outputs to graph nodes.

A second export is used only if every op of the plan's capture is a node in it, with the same
target and tensor inputs. Otherwise the plan's own export is used.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any

import torch
from torch import fx, nn
from torch.export import Dim
from torch.utils import _pytree as pytree

from quantplan.compiler.capture.signature import split_example_inputs

__all__ = ["export_for_runtime"]


def export_for_runtime(
    model: nn.Module,
    captured,
    example_inputs: Any,
    *,
    auto_dynamic: bool,
    boundary_modules: tuple[str, ...],
) -> torch.export.ExportedProgram:
    """Return the program to build the prepared module from (see the module docstring)."""
    args, kwargs = split_example_inputs(example_inputs)
    shapes = []
    if auto_dynamic:
        shapes = [_dynamic_shapes(model, args, kwargs, all_dims=True)]
        shapes.append(_dynamic_shapes(model, args, kwargs, all_dims=False))
    candidates = [(shape, preserve) for shape in shapes if shape is not None for preserve in (boundary_modules, ())]
    candidates.append((None, boundary_modules))
    for index, (dynamic_shapes, preserve) in enumerate(candidates):
        if dynamic_shapes is None and not preserve:
            continue
        if (dynamic_shapes, preserve) in candidates[:index]:
            continue  # without boundary modules both preserve choices are the same export
        program = _try_export(model, args, kwargs, dynamic_shapes, preserve)
        if program is not None and _has_ops_of(program.graph, captured):
            return program
    return captured.exported


def _dynamic_shapes(model: nn.Module, args: tuple, kwargs: dict, *, all_dims: bool) -> dict | None:
    """Give each tensor input `Dim.AUTO` on every dimension, or on dimension 0 only.

    Returns torch.export's `dynamic_shapes` keyed by forward's parameter names, or None when
    no input has a dimension or the inputs do not bind to forward's signature.
    """
    try:
        bound = inspect.signature(model.forward).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    leaves = pytree.tree_leaves((args, kwargs))
    if not any(isinstance(leaf, torch.Tensor) and leaf.dim() > 0 for leaf in leaves):
        return None

    def dims(value: Any) -> dict | None:
        if not isinstance(value, torch.Tensor) or value.dim() == 0:
            return None
        return {index: Dim.AUTO for index in range(value.dim() if all_dims else 1)}

    shapes = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            shapes[name] = tuple(pytree.tree_map(dims, item) for item in value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            shapes[name] = {key: pytree.tree_map(dims, item) for key, item in value.items()}
        else:
            shapes[name] = pytree.tree_map(dims, value)
    return shapes


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
