"""Graph-mode capture: torch.export, then the ModelGraph built from the exported program."""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
import torch
from torch import nn
from torch.utils import _pytree as pytree

from quantplan.compiler.capture.failures import capture_error
from quantplan.compiler.capture.graph_ops import GraphOps, build_graph_ops
from quantplan.compiler.capture.model_info import ParameterTable, describe_modules, qualified_name
from quantplan.compiler.capture.module_calls import ModuleCallRecorder
from quantplan.compiler.capture.signature import describe_inputs
from quantplan.compiler.graph import CaptureInfo, ModelGraph, ModuleCall

__all__ = ["capture_graph", "graph_from_program"]


def capture_graph(
    model: nn.Module, args: tuple, kwargs: dict, *, strict: bool, dynamic_shapes: Any
) -> tuple[ModelGraph, torch.export.ExportedProgram]:
    """Export `model` in eval mode (restoring its training flag) and build its ModelGraph."""
    args, kwargs = _on_model_device(model, args, kwargs)
    recorder = ModuleCallRecorder(model)
    was_training = model.training
    model.eval()
    try:
        program = _export(model, args, kwargs, strict, dynamic_shapes, recorder)
        if strict:
            _record_calls_on_fake_tensors(model, args, kwargs, recorder)
    finally:
        model.train(was_training)
    info = CaptureInfo(
        mode="graph",
        method=f"torch.export(strict={strict})",
        specializations=_specializations(program, args, kwargs, dynamic_shapes),
    )
    signature = describe_inputs((args, kwargs), dynamic_shapes)
    graph = graph_from_program(program, model, recorder.sorted_calls(), signature, info)
    return graph, program


def graph_from_program(
    program: torch.export.ExportedProgram,
    model: nn.Module,
    module_calls: tuple[ModuleCall, ...],
    inputs: dict,
    capture: CaptureInfo,
) -> ModelGraph:
    """Build the ModelGraph of an exported program (also usable on a decomposed program)."""
    graph_ops = build_graph_ops(program, model)
    return ModelGraph(
        root_class=qualified_name(type(model)),
        execution_mode="graph",
        ops=graph_ops.ops,
        modules=describe_modules(model),
        module_calls=_with_op_ranges(module_calls, graph_ops),
        parameters=ParameterTable(model).infos(),
        inputs=inputs,
        capture=capture,
    )


def _export(model, args, kwargs, strict, dynamic_shapes, recorder):
    context = recorder.installed() if not strict else contextlib.nullcontext(recorder)
    try:
        with context:
            return torch.export.export(
                model, args, kwargs, strict=strict, dynamic_shapes=dynamic_shapes
            )
    except Exception as error:  # torch.export raises many unrelated types; all are translated.
        raise capture_error("graph", error, strict=strict, dynamic_shapes=dynamic_shapes) from error


def _record_calls_on_fake_tensors(model, args, kwargs, recorder) -> None:
    """Run forward once on fake tensors to record module calls (strict export runs no hooks)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        fake_args, fake_kwargs = pytree.tree_map_only(
            torch.Tensor, mode.from_tensor, (args, kwargs)
        )
        with recorder.installed(), torch.no_grad():
            model(*fake_args, **fake_kwargs)


def _on_model_device(model: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Move example inputs to the meta device when the model's parameters live there."""
    parameter = next(model.parameters(), None)
    if parameter is None or parameter.device.type != "meta":
        return args, kwargs
    return pytree.tree_map_only(torch.Tensor, lambda tensor: tensor.to("meta"), (args, kwargs))


def _with_op_ranges(calls: tuple[ModuleCall, ...], graph_ops: GraphOps) -> tuple[ModuleCall, ...]:
    first: dict[tuple[str, int], str] = {}
    last: dict[tuple[str, int], str] = {}
    for op in graph_ops.ops:
        for level in graph_ops.call_levels[op.name]:
            first.setdefault(level, op.name)
            last[level] = op.name
    return tuple(
        attrs.evolve(
            call,
            first_op=first.get((call.path, call.call_site)),
            last_op=last.get((call.path, call.call_site)),
        )
        for call in calls
    )


def _specializations(program, args, kwargs, dynamic_shapes) -> tuple[str, ...]:
    """List requested dynamic dimensions that the export made static."""
    if dynamic_shapes is None:
        return ()
    values = {
        node.name: node.meta.get("val") for node in program.graph.nodes if node.op == "placeholder"
    }
    notes = []
    for name, dims in _requested_dims(program, args, kwargs, dynamic_shapes):
        value = values.get(name)
        if not isinstance(value, torch.Tensor):
            continue
        for dim in dims:
            size = value.shape[dim]
            if isinstance(size, int):
                notes.append(f"input {name!r} dimension {dim} specialized to {size}")
    return tuple(notes)


def _requested_dims(program, args, kwargs, dynamic_shapes) -> list[tuple[str, list[int]]]:
    user_inputs = [
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT
    ]
    if isinstance(dynamic_shapes, dict):
        entries = list(dynamic_shapes.items())
    else:
        entries = list(zip(user_inputs, dynamic_shapes, strict=False))
    requested = []
    for name, spec in entries:
        if isinstance(spec, dict):
            dims = [
                dim
                for dim, value in spec.items()
                if value is not None and not isinstance(value, int)
            ]
        elif isinstance(spec, (list, tuple)):
            dims = [
                dim
                for dim, value in enumerate(spec)
                if value is not None and not isinstance(value, int)
            ]
        else:
            continue
        if name in user_inputs:
            requested.append((name, dims))
    return requested
