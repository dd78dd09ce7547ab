"""Stale-plan detection: compare a plan with the model graph captured again at apply time.

The structure fingerprint decides whether the plan still fits. When it does not, the
differences are listed in terms a reviewer can act on: ops added or removed, modules
renamed, parameters and tensors whose shape or dtype changed.
"""

from __future__ import annotations

from quantplan.compiler.graph import ModelGraph
from quantplan.errors import PlanMismatchError
from quantplan.plan.fingerprint import structure_fingerprint
from quantplan.plan.model import Plan

__all__ = ["check_plan_matches", "structure_changes"]


def check_plan_matches(plan: Plan, graph: ModelGraph) -> None:
    """Raise PlanMismatchError listing the changes unless `graph` has the plan's structure."""
    fingerprint = structure_fingerprint(graph)
    if fingerprint == plan.model.fingerprint and plan.model.execution_mode == graph.execution_mode:
        return
    changes = structure_changes(plan, graph)
    if fingerprint != plan.model.fingerprint and not changes:
        changes = [
            f"structure fingerprint changed from {plan.model.fingerprint} to {fingerprint} "
            "(a change outside the quantizable ops, such as an op that the plan does not list)"
        ]
    if plan.model.execution_mode != graph.execution_mode:
        changes.insert(
            0,
            f"execution mode changed: plan {plan.model.execution_mode}, capture {graph.execution_mode}",
        )
    if changes:
        raise PlanMismatchError(
            changes, context=f"the model does not match the plan for {plan.model.class_name}"
        )


def structure_changes(plan: Plan, graph: ModelGraph) -> list[str]:
    """Return human-readable differences between the plan's ops and the graph's."""
    changes = _module_changes(plan, graph)
    changes += _op_changes(plan, graph)
    changes += _param_changes(plan, graph)
    return changes


def _module_changes(plan: Plan, graph: ModelGraph) -> list[str]:
    model_paths = {module.path: module.type for module in graph.modules}
    for module in graph.modules:
        for alias in module.aliases:
            model_paths.setdefault(alias, module.type)
    plan_paths = {op.module: op.module_type for op in plan.ops if op.module}
    missing = {path: kind for path, kind in plan_paths.items() if path not in model_paths}
    used = {op.module for op in graph.ops}
    new = {
        path: kind for path, kind in model_paths.items() if path in used and path not in plan_paths
    }
    changes = []
    for path, kind in sorted(missing.items()):
        renamed = [candidate for candidate, other in sorted(new.items()) if other == kind]
        if renamed:
            changes.append(f"module renamed: {path} -> {renamed[0]} ({kind})")
            new.pop(renamed[0])
        else:
            changes.append(f"module removed: {path} ({kind})")
    changes += [
        f"module added: {path} ({kind})"
        for path, kind in sorted(new.items())
        if _is_planned_type(plan, kind)
    ]
    return changes


def _is_planned_type(plan: Plan, module_type: str) -> bool:
    return any(op.module_type == module_type for op in plan.ops)


def _op_changes(plan: Plan, graph: ModelGraph) -> list[str]:
    graph_ops = {op.name: op for op in graph.ops}
    plan_types = {op.type for op in plan.ops}
    plan_names = {op.name for op in plan.ops}
    changes = []
    for op in plan.ops:
        found = graph_ops.get(op.name)
        if found is None:
            changes.append(f"op removed: {op.name} ({op.type} in {op.module or '<root>'})")
        elif found.type != op.type or found.module != op.module:
            changes.append(
                f"op changed: {op.name} was {op.type} in {op.module or '<root>'}, "
                f"now {found.type} in {found.module or '<root>'}"
            )
        else:
            changes += _tensor_changes(op, found)
    for name, op in graph_ops.items():
        if name not in plan_names and op.type in plan_types and _has_float_tensor(op):
            changes.append(f"op added: {name} ({op.type} in {op.module or '<root>'})")
    return changes


def _tensor_changes(plan_op, graph_op) -> list[str]:
    changes = []
    for group, tensors in (("input", graph_op.inputs), ("output", graph_op.outputs)):
        entries = plan_op.inputs if group == "input" else plan_op.outputs
        for index, entry in entries.items():
            if index >= len(tensors):
                changes.append(f"{plan_op.name} {group} {index} removed")
                continue
            tensor = tensors[index]
            if tuple(entry.shape) != tuple(tensor.shape) or entry.dtype != tensor.dtype:
                changes.append(
                    f"{plan_op.name} {group} {index} changed: {entry.dtype}{list(entry.shape)} "
                    f"-> {tensor.dtype}{list(tensor.shape)}"
                )
    return changes


def _param_changes(plan: Plan, graph: ModelGraph) -> list[str]:
    params = {}
    for param in graph.parameters:
        for alias in param.aliases or (param.path,):
            params[alias] = param
        params[param.path] = param
    changes, seen = [], set()
    for op in plan.ops:
        for entry in op.state.values():
            if entry.param in seen:
                continue
            seen.add(entry.param)
            param = params.get(entry.param)
            if param is None:
                changes.append(f"parameter removed: {entry.param}")
            elif tuple(param.shape) != tuple(entry.shape) or param.dtype != entry.dtype:
                changes.append(
                    f"parameter changed: {entry.param} {entry.dtype}{list(entry.shape)} "
                    f"-> {param.dtype}{list(param.shape)}"
                )
    return changes


def _has_float_tensor(op) -> bool:
    return any(tensor.dtype.startswith(("float", "bfloat")) for tensor in (*op.inputs, *op.outputs))
