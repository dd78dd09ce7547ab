"""Fold batch norm into the preceding conv when finalizing with the torch backend.

The plan marks a conv and the batch norm after it with the same `fused_group` (the conv's
op name). Folding uses the eval statistics, as the real backend does, and then the conv's
weight quantizer recomputes its qparams from the folded weight. A conv whose weight the plan
leaves in float (`spec: null`) is never folded, so its batch norm stays a separate op.
"""

from __future__ import annotations

import types

import torch
from torch import fx, nn

from quantplan.errors import UnsupportedError
from quantplan.plan.model import Plan, PlanOp
from quantplan.runtime.fake.control import fake_quantizers
from quantplan.runtime.fake.fold import parameter_at
from quantplan.runtime.real.batchnorm import fold_batch_norm, remove_batch_norm

__all__ = ["fold_batch_norms", "foldable_pairs"]


def foldable_pairs(plan: Plan) -> list[tuple[PlanOp, PlanOp]]:
    """Return (conv op, batch norm op) pairs whose conv weight the plan quantizes."""
    ops = {op.name: op for op in plan.ops}
    pairs = []
    for norm in plan.ops:
        conv = ops.get(norm.fused_group or "")
        if norm.type != "batch_norm" or conv is None or not conv.type.startswith("conv"):
            continue
        weight = conv.state.get("weight")
        if weight is not None and weight.spec is not None:
            pairs.append((conv, norm))
    return pairs


def fold_batch_norms(model: nn.Module, plan: Plan) -> None:
    """Fold every foldable batch norm of `plan` into its conv, in `model` (prepared)."""
    folded_weights = set()
    for conv, norm in foldable_pairs(plan):
        if isinstance(model, fx.GraphModule):
            _fold_graph(model, conv, norm)
        else:
            _fold_eager(model, conv, norm)
        folded_weights.add(f"params/{conv.state['weight'].param}")
    for quantizer in fake_quantizers(model):
        if quantizer.key in folded_weights:
            quantizer.clear_qparams()


def _fold_eager(model: nn.Module, conv: PlanOp, norm: PlanOp) -> None:
    conv_module = model.get_submodule(conv.module)
    weight = parameter_at(model, f"{conv.module}.weight")
    folded_weight, folded_bias = fold_batch_norm(
        weight, conv_module.bias, model.get_submodule(norm.module), transposed=_transposed(conv)
    )
    with torch.no_grad():
        weight.copy_(folded_weight)
        if conv_module.bias is None:
            conv_module.bias = nn.Parameter(folded_bias, requires_grad=weight.requires_grad)
        else:
            conv_module.bias.copy_(folded_bias)
    remove_batch_norm(model, norm.module)


def _fold_graph(module: fx.GraphModule, conv: PlanOp, norm: PlanOp) -> None:
    conv_node, norm_node = _graph_node(module, conv), _graph_node(module, norm)
    if norm_node.args[0] is not conv_node:
        raise UnsupportedError(
            f"ops/{norm.name}: batch norm reads {norm_node.args[0]}, not conv {conv.name} directly "
            "(a quantizer or another op sits between them), so it cannot be folded."
        )
    weight = parameter_at(module, f"{conv.module}.weight")
    bias_node = conv_node.args[2] if len(conv_node.args) > 2 else None
    bias = _attribute(module, bias_node.target) if isinstance(bias_node, fx.Node) else None
    folded_weight, folded_bias = fold_batch_norm(
        weight, bias, _norm_view(module, norm_node), transposed=_transposed(conv)
    )
    with torch.no_grad():
        weight.copy_(folded_weight)
        if bias is None:
            _add_bias(module, conv, conv_node, folded_bias)
        else:
            bias.copy_(folded_bias)
    norm_node.replace_all_uses_with(conv_node)
    module.graph.erase_node(norm_node)
    module.graph.eliminate_dead_code()
    module.recompile()


def _add_bias(module: fx.GraphModule, conv: PlanOp, conv_node: fx.Node, bias: torch.Tensor) -> None:
    module.get_submodule(conv.module).register_parameter("bias", nn.Parameter(bias))
    with module.graph.inserting_before(conv_node):
        bias_node = module.graph.get_attr(f"{conv.module}.bias")
    args = list(conv_node.args) + [None] * max(0, 3 - len(conv_node.args))
    args[2] = bias_node
    conv_node.args = tuple(args)


def _norm_view(module: fx.GraphModule, node: fx.Node) -> types.SimpleNamespace:
    """Return the batch norm's tensors and eps, read from an `aten.batch_norm` node's arguments."""
    weight, bias, mean, var = (
        _attribute(module, arg.target) if isinstance(arg, fx.Node) else None
        for arg in node.args[1:5]
    )
    return types.SimpleNamespace(
        weight=weight, bias=bias, running_mean=mean, running_var=var, eps=float(node.args[7])
    )


def _graph_node(module: fx.GraphModule, op: PlanOp) -> fx.Node:
    for node in module.graph.nodes:
        if node.name == op.name:
            return node
    raise UnsupportedError(
        f"ops/{op.name}: no node of that name in the prepared graph, so it cannot be folded."
    )


def _attribute(module: nn.Module, target: str) -> torch.Tensor:
    owner_path, _, name = target.rpartition(".")
    owner = module.get_submodule(owner_path) if owner_path else module
    return getattr(owner, name)


def _transposed(conv: PlanOp) -> bool:
    return "transpose" in conv.type
