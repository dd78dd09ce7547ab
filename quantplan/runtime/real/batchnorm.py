"""Fold a batch norm that follows a conv into the conv's weight and bias (eval statistics)."""

from __future__ import annotations

import types

import torch
from torch import fx, nn

from quantplan.errors import UnsupportedError

__all__ = [
    "batch_norm_from_node",
    "bypass_batch_norm",
    "fold_batch_norm",
    "graph_attribute",
    "graph_conv_batch_norm",
    "graph_node",
    "remove_batch_norm",
]


def fold_batch_norm(
    weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.Module, *, transposed: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return `(weight, bias)` of the conv followed by `norm` in eval mode.

    Per output channel c: `w'[c] = w[c] * gamma[c] / sqrt(var[c] + eps)` and
    `b'[c] = (b[c] - mean[c]) * gamma[c] / sqrt(var[c] + eps) + beta[c]`. A transposed conv
    keeps its output channels on axis 1, which this supports for groups == 1 only.
    """
    if norm.running_mean is None or norm.running_var is None:
        raise UnsupportedError(
            f"batch norm {type(norm).__name__} without running statistics cannot be folded into its conv."
        )
    with torch.no_grad():
        factor = torch.rsqrt(norm.running_var.float() + norm.eps)
        if norm.weight is not None:
            factor = factor * norm.weight.float()
        channels = factor.numel()
        mean = norm.running_mean.float()
        base = torch.zeros(channels, device=weight.device) if bias is None else bias.float()
        folded_bias = (base - mean) * factor
        if norm.bias is not None:
            folded_bias = folded_bias + norm.bias.float()
        axis = 1 if transposed else 0
        if weight.shape[axis] != channels:
            raise UnsupportedError(
                f"cannot fold a batch norm of {channels} channels into a conv weight of shape {list(weight.shape)} (grouped transposed conv)."
            )
        view = [1] * weight.dim()
        view[axis] = channels
        folded_weight = weight.float() * factor.reshape(view)
    return folded_weight.to(weight.dtype), folded_bias.to(weight.dtype)


def remove_batch_norm(model: nn.Module, path: str) -> None:
    """Replace the batch norm at `path` with nn.Identity, because its conv now includes it."""
    model.set_submodule(path, nn.Identity())


def graph_node(module: fx.GraphModule, name: str) -> fx.Node:
    """Return the node called `name` in `module`'s graph; raises UnsupportedError when missing."""
    for node in module.graph.nodes:
        if node.name == name:
            return node
    raise UnsupportedError(
        f"ops/{name}: no node of that name in the prepared graph, so it cannot be folded."
    )


def graph_conv_batch_norm(
    module: fx.GraphModule, conv_name: str, norm_name: str
) -> tuple[fx.Node, fx.Node]:
    """Return the conv and batch norm nodes of a fused pair, checking that the norm reads the conv directly."""
    conv_node, norm_node = graph_node(module, conv_name), graph_node(module, norm_name)
    if norm_node.args[0] is not conv_node:
        raise UnsupportedError(
            f"ops/{norm_name}: batch norm reads {norm_node.args[0]}, not conv {conv_name} directly "
            "(a quantizer or another op sits between them), so it cannot be folded."
        )
    return conv_node, norm_node


def batch_norm_from_node(module: fx.GraphModule, node: fx.Node) -> types.SimpleNamespace:
    """Return the batch norm's tensors and eps, read from an `aten.batch_norm` node's arguments."""
    weight, bias, mean, var = (
        graph_attribute(module, arg.target) if isinstance(arg, fx.Node) else None
        for arg in node.args[1:5]
    )
    return types.SimpleNamespace(
        weight=weight, bias=bias, running_mean=mean, running_var=var, eps=float(node.args[7])
    )


def bypass_batch_norm(module: fx.GraphModule, conv_node: fx.Node, norm_node: fx.Node) -> None:
    """Route the batch norm's users to the conv and erase the norm and the attribute reads only it used."""
    inputs = [arg for arg in norm_node.args if isinstance(arg, fx.Node) and arg is not conv_node]
    norm_node.replace_all_uses_with(conv_node)
    module.graph.erase_node(norm_node)
    for node in inputs:
        if node.op == "get_attr" and not node.users:
            module.graph.erase_node(node)


def graph_attribute(module: nn.Module, target: str) -> torch.Tensor:
    """Return the tensor at dotted path `target` (a `get_attr` node's target)."""
    owner_path, _, name = target.rpartition(".")
    owner = module.get_submodule(owner_path) if owner_path else module
    return getattr(owner, name)
