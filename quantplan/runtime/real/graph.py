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


def swap_graph_weight(module: fx.GraphModule, target, packed, spec, plan_sha256: str, quantizers: dict) -> None:
    """Replace `target`'s weight with `packed` in `module`'s graph and module tree."""
    graph = module.graph
    reads = [node for node in graph.nodes if node.op == "get_attr" and node.target == target.param]
    op_node = next((node for node in graph.nodes if node.name == target.op.name), None)
    if op_node is None or not reads:
        raise PlanError(ErrorDetail(path=f"params/{target.param}", message=f"op {target.op.name} reading {target.param} is not in the graph; recompile the plan."))
    owner = module.get_submodule(target.module)
    if target.kind == "linear":
        _swap_linear(module, op_node, owner, target, packed, spec, plan_sha256, quantizers)
    else:
        _swap_holder(module, reads, owner, target, packed, spec, plan_sha256)
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


def _swap_holder(module, reads, owner, target, packed, spec, plan_sha256) -> None:
    others = {name: tensor for name, tensor in [*owner.named_parameters(recurse=False), *owner.named_buffers(recurse=False)] if name != "weight"}
    holder = PackedWeightHolder(packed, spec, others, plan_sha256=plan_sha256)
    module.set_submodule(target.module, holder)
    order = {node: index for index, node in enumerate(module.graph.nodes)}
    for read in reads:
        for quantized in list(read.users):
            first = min(quantized.users, key=order.__getitem__)
            with module.graph.inserting_before(first):
                call = module.graph.call_module(target.module, ())
            call.meta = dict(quantized.meta)
            quantized.replace_all_uses_with(call)


def _erase_unused(graph: fx.Graph, node: fx.Node) -> None:
    for user in list(node.users):
        if not user.users:
            graph.erase_node(user)
    if not node.users:
        graph.erase_node(node)
