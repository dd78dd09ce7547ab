"""Fold batch norm into the preceding conv when finalizing with the torch backend.

The plan marks a conv and the batch norm after it with the same `fused_group` (the conv's
op name). Folding uses the eval statistics, as the real backend does, and then the conv's
weight quantizer recomputes its qparams from the folded weight. A conv whose weight the plan
leaves in float (`spec: null`) is never folded, so its batch norm stays a separate op.
"""

from __future__ import annotations

import torch
from torch import fx, nn

from quantplan.plan.model import Plan, PlanOp
from quantplan.runtime.fake.control import fake_quantizers
from quantplan.runtime.fake.fold import parameter_at
from quantplan.runtime.real.batchnorm import (
    batch_norm_from_node,
    bypass_batch_norm,
    fold_batch_norm,
    graph_attribute,
    graph_conv_batch_norm,
    remove_batch_norm,
)

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
    conv_node, norm_node = graph_conv_batch_norm(module, conv.name, norm.name)
    weight = parameter_at(module, f"{conv.module}.weight")
    bias_node = conv_node.args[2] if len(conv_node.args) > 2 else None
    bias = graph_attribute(module, bias_node.target) if isinstance(bias_node, fx.Node) else None
    folded_weight, folded_bias = fold_batch_norm(
        weight, bias, batch_norm_from_node(module, norm_node), transposed=_transposed(conv)
    )
    with torch.no_grad():
        weight.copy_(folded_weight)
        if bias is None:
            _add_bias(module, conv, conv_node, folded_bias)
        else:
            bias.copy_(folded_bias)
    bypass_batch_norm(module, conv_node, norm_node)
    module.graph.eliminate_dead_code()
    module.recompile()


def _add_bias(module: fx.GraphModule, conv: PlanOp, conv_node: fx.Node, bias: torch.Tensor) -> None:
    module.get_submodule(conv.module).register_parameter("bias", nn.Parameter(bias))
    with module.graph.inserting_before(conv_node):
        bias_node = module.graph.get_attr(f"{conv.module}.bias")
    args = list(conv_node.args) + [None] * max(0, 3 - len(conv_node.args))
    args[2] = bias_node
    conv_node.args = tuple(args)


def _transposed(conv: PlanOp) -> bool:
    return "transpose" in conv.type
