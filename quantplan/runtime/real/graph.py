"""Swap one planned weight of a graph-mode prepared GraphModule for packed storage.

Before: `get_attr(w) -> fake quantizer -> op`. After, for a linear op:
`call_module(<owner>: QuantizedLinear)(x)`; for any other op:
`call_module(<owner>: PackedWeightHolder)() -> op`, so the op itself stays in the graph.
Activation quantizer nodes stay where the fake runtime put them.
"""

from __future__ import annotations

import torch
from torch import fx

from quantplan.errors import ErrorDetail, PlanError
from quantplan.runtime.real.linear import QuantizedLinear
from quantplan.runtime.real.modules import PackedWeightHolder

__all__ = ["serving_quantizer", "swap_graph_weight"]


def serving_quantizer(quantizers: dict, entry: str):
    """Return the quantizer that serves plan entry `entry` (its own site or its producer's)."""
    for quantizer in quantizers.values():
        if entry in quantizer.entries:
            return quantizer
    return None


def swap_graph_weight(
    module: fx.GraphModule, target, packed, spec, plan_sha256: str, quantizers: dict
) -> None:
    """Replace `target`'s weight with `packed` in `module`'s graph and module tree."""
    graph = module.graph
    reads = _weight_reads(module, target)
    op_node = next((node for node in graph.nodes if node.name == target.op.name), None)
    if op_node is None or not reads:
        raise PlanError(
            ErrorDetail(
                path=f"params/{target.param}",
                message=f"op {target.op.name} reading {target.param} is not in the graph; recompile the plan.",
            )
        )
    owner = module.get_submodule(target.module)
    if target.kind == "linear":
        _swap_linear(module, op_node, owner, target, packed, spec, plan_sha256, quantizers)
    else:
        _swap_holder(module, reads, op_node, owner, target, packed, spec, plan_sha256)
    for read in reads:
        _erase_unused(graph, read)
    for node in list(graph.nodes):
        if node.op == "get_attr" and node.target.startswith(f"{target.module}.") and not node.users:
            graph.erase_node(node)


def _swap_linear(module, op_node, owner, target, packed, spec, plan_sha256, quantizers) -> None:
    real = QuantizedLinear(
        packed,
        getattr(owner, "bias", None),
        spec,
        plan_sha256=plan_sha256,
        input_quantizer=serving_quantizer(quantizers, f"ops/{target.op.name}/inputs/0"),
        apply_input=False,
    )
    with module.graph.inserting_before(op_node):
        call = module.graph.call_module(target.module, (op_node.args[0],))
    call.meta = dict(op_node.meta)
    op_node.replace_all_uses_with(call)
    module.graph.erase_node(op_node)
    module.set_submodule(target.module, real)


def _weight_reads(module: fx.GraphModule, target) -> list[fx.Node]:
    """Return the `get_attr` nodes that read `target`'s weight, under any of its names.

    torch.export keeps one `get_attr` for a tied weight, under one of its names: GPT-2's
    embedding and LM head both read `lm_head.weight`, say. The weight is therefore matched
    by identity, not by its path.
    """
    weight = module.get_submodule(target.module).weight
    return [
        node
        for node in module.graph.nodes
        if node.op == "get_attr" and _attribute(module, node.target) is weight
    ]


def _attribute(module: torch.nn.Module, path: str):
    value = module
    for part in path.split("."):
        value = getattr(value, part, None)
    return value


def _swap_holder(module, reads, op_node, owner, target, packed, spec, plan_sha256) -> None:
    """Feed `op_node` its weight from a PackedWeightHolder; other readers keep theirs."""
    others = {
        name: tensor
        for name, tensor in [
            *owner.named_parameters(recurse=False),
            *owner.named_buffers(recurse=False),
        ]
        if name != "weight"
    }
    holder = PackedWeightHolder(packed, spec, others, plan_sha256=plan_sha256)
    weight_inputs = [
        node
        for node in op_node.all_input_nodes
        if node in reads or any(read in node.all_input_nodes for read in reads)
    ]
    module.set_submodule(target.module, holder)
    for weight_input in weight_inputs:
        with module.graph.inserting_before(op_node):
            call = module.graph.call_module(target.module, ())
        call.meta = dict(weight_input.meta)
        op_node.replace_input_with(weight_input, call)


def _erase_unused(graph: fx.Graph, node: fx.Node) -> None:
    for user in list(node.users):
        if not user.users:
            graph.erase_node(user)
    if not node.users:
        graph.erase_node(node)
