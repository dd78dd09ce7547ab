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

The chosen variant is stored in the program's `graph_module.meta[VARIANT_META]` (which
`program.module()` copies), as `<shapes>` or `<shapes>+signatures` with shapes `all_dims`,
`dim0` or `static`, or as `plan_capture`. `quantplan.save` records it, and `quantplan.load`
tries that variant first through `preferred_variant`, because each failed export on the
meta device costs memory and time.
"""

from __future__ import annotations

import contextvars
import inspect
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import fx, nn
from torch.export import Dim
from torch.utils import _pytree as pytree

from quantplan.compiler.capture.quiet import quiet_torch_logs
from quantplan.compiler.capture.signature import split_example_inputs

__all__ = ["PLAN_CAPTURE", "VARIANT_META", "export_for_runtime", "preferred_variant"]

VARIANT_META = "quantplan_runtime_export"
PLAN_CAPTURE = "plan_capture"
_SHAPE_NAMES = ("all_dims", "dim0")
_preferred: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "quantplan_preferred_export", default=None
)


@contextmanager
def preferred_variant(variant: str | None) -> Iterator[None]:
    """Make `export_for_runtime` try `variant` first, and the full sequence only if it fails."""
    token = _preferred.set(variant)
    try:
        yield
    finally:
        _preferred.reset(token)


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
    candidates = _candidates(model, args, kwargs, auto_dynamic, boundary_modules)
    preferred = _preferred.get()
    if preferred == PLAN_CAPTURE:
        return _tagged(captured.exported, PLAN_CAPTURE)
    if preferred in candidates:
        program = _accepted_export(model, args, kwargs, candidates[preferred], captured)
        if program is not None:
            return _tagged(program, preferred)
    for variant, (dynamic_shapes, preserve) in candidates.items():
        if variant == preferred:
            continue  # already tried and failed
        program = _accepted_export(model, args, kwargs, (dynamic_shapes, preserve), captured)
        if program is not None:
            return _tagged(program, variant)
    return _tagged(captured.exported, PLAN_CAPTURE)


def _candidates(
    model, args, kwargs, auto_dynamic: bool, boundary_modules: tuple[str, ...]
) -> dict[str, tuple]:
    """Return the export variants to try, in order, keyed by their recorded names."""
    shapes = []
    if auto_dynamic:
        shapes = [
            (name, _dynamic_shapes(model, args, kwargs, all_dims=name == "all_dims"))
            for name in _SHAPE_NAMES
        ]
    shapes.append(("static", None))
    candidates: dict[str, tuple] = {}
    seen = []
    for name, dynamic_shapes in shapes:
        if name != "static" and dynamic_shapes is None:
            continue
        for preserve in (boundary_modules, ()):
            if (dynamic_shapes is None and not preserve) or (dynamic_shapes, preserve) in seen:
                continue  # a static export without signatures is the plan's capture itself
            seen.append((dynamic_shapes, preserve))
            candidates[f"{name}+signatures" if preserve else name] = (dynamic_shapes, preserve)
    return candidates


def _accepted_export(
    model, args, kwargs, candidate: tuple, captured
) -> torch.export.ExportedProgram | None:
    program = _try_export(model, args, kwargs, *candidate)
    return program if program is not None and _has_ops_of(program.graph, captured) else None


def _tagged(program: torch.export.ExportedProgram, variant: str) -> torch.export.ExportedProgram:
    program.graph_module.meta[VARIANT_META] = variant
    return program


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
        # Each attempt may fail or specialize a dimension on purpose. torch's warnings about
        # that are noise to the user, because the chosen variant already reports the outcome.
        with quiet_torch_logs():
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
