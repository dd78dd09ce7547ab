"""Activation input slots of an fx node, numbered as the plan numbers op inputs.

Input indices count the op's floating-point activation arguments in argument order, with
list arguments (such as `cat`'s) counted element by element. Parameters, and values computed
only from parameters (a transposed weight), are state, not activation inputs.
"""

from __future__ import annotations

import torch
from torch import fx

__all__ = ["Slot", "activation_slots", "parameter_derived_nodes", "replace_slot"]

# A slot is the path to one argument: ("args", 2) or ("args", 0, 1) for element 1 of a list.
Slot = tuple


def parameter_derived_nodes(module: fx.GraphModule) -> set[fx.Node]:
    """Return get_attr nodes of parameters (not buffers) and every node computed only from them."""
    parameters = {name for name, _ in module.named_parameters(remove_duplicate=False)}
    derived: set[fx.Node] = set()
    for node in module.graph.nodes:
        if node.op == "get_attr":
            if node.target in parameters:
                derived.add(node)
        elif node.op == "call_function":
            inputs = node.all_input_nodes
            if inputs and all(item in derived for item in inputs):
                derived.add(node)
    return derived


def activation_slots(node: fx.Node, state: set[fx.Node]) -> list[tuple[Slot, fx.Node]]:
    """Return (slot, argument node) for each floating-point activation input of `node`."""
    slots = []
    for position, value in enumerate(node.args):
        slots += _slots_of(("args", position), value, state)
    for name, value in node.kwargs.items():
        slots += _slots_of(("kwargs", name), value, state)
    return slots


def _slots_of(prefix: Slot, value, state: set[fx.Node]) -> list[tuple[Slot, fx.Node]]:
    if isinstance(value, (list, tuple)):
        found = []
        for position, item in enumerate(value):
            found += [((*prefix, position), node) for _, node in _slots_of((), item, state)]
        return found
    if isinstance(value, fx.Node) and value not in state and _is_float_tensor(value):
        return [(prefix, value)]
    return []


def _is_float_tensor(node: fx.Node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def replace_slot(node: fx.Node, slot: Slot, new: fx.Node) -> None:
    """Make `node` read `new` at `slot` instead of its current argument."""
    group, key, *inner = slot
    container = list(node.args) if group == "args" else dict(node.kwargs)
    container[key] = _replace_inner(container[key], inner, new)
    if group == "args":
        node.args = tuple(container)
    else:
        node.kwargs = container


def _replace_inner(value, inner: list, new: fx.Node):
    if not inner:
        return new
    items = list(value)
    items[inner[0]] = _replace_inner(items[inner[0]], inner[1:], new)
    return type(value)(items) if isinstance(value, tuple) else items
