"""Insert quantizer modules into a GraphModule exported from the model (graph-mode plans).

Weights are quantized right after their `get_attr` node, so the quantizer sees the whole
parameter before any view. Op inputs are quantized just before the op, op outputs right
after it. Module boundary outputs sit after the module's last op; boundary inputs are
supported for modules whose forward takes one tensor.
"""

from __future__ import annotations

from torch import fx, nn

from quantplan.compiler.graph import ModelGraph
from quantplan.errors import ErrorDetail, PlanError, UnsupportedError
from quantplan.runtime.fake.quantizer import FakeQuantizer
from quantplan.runtime.fake.sites import Site
from quantplan.runtime.fake.slots import activation_slots, parameter_derived_nodes, replace_slot

__all__ = ["CONTAINER", "insert_quantizers"]

CONTAINER = "quantplan_quantizers"


def insert_quantizers(module: fx.GraphModule, sites: list[Site], quantizers: list[FakeQuantizer], graph: ModelGraph) -> None:
    """Attach one quantizer per site to `module`; every site is located before any change."""
    state = parameter_derived_nodes(module)
    actions = [_locate(module, site, graph, state) for site in sites]
    container = nn.ModuleDict()
    module.add_module(CONTAINER, container)
    for number, (action, quantizer) in enumerate(zip(actions, quantizers, strict=True)):
        name = f"q{number}"
        container[name] = quantizer
        action(f"{CONTAINER}.{name}")
    module.graph.lint()
    module.recompile()


def _locate(module: fx.GraphModule, site: Site, graph: ModelGraph, state: set[fx.Node]):
    kind = site.location.kind
    if kind == "param":
        return _param_action(module, site)
    if kind == "op_input":
        return _input_action(module, site, graph, state)
    if kind == "op_output":
        return _output_action(_node(module, site.location.target, site), site)
    if kind == "module_output":
        return _module_output_action(module, site, graph)
    return _module_input_action(module, site, graph, state)


def _node(module: fx.GraphModule, name: str, site: Site) -> fx.Node:
    for node in module.graph.nodes:
        if node.name == name:
            return node
    raise PlanError(
        ErrorDetail(path=site.key, message=f"op {name} of the plan has no node in the exported graph; recompile the plan.")
    )


def _param_action(module: fx.GraphModule, site: Site):
    aliases = set(site.aliases) | {site.location.target}
    nodes = [node for node in module.graph.nodes if node.op == "get_attr" and node.target in aliases]
    if not nodes:
        raise PlanError(
            ErrorDetail(path=site.key, message=f"parameter {site.location.target} is not read by the exported graph.")
        )

    def insert(target: str) -> None:
        for node in nodes:
            _quantize_after(module, node, target)

    return insert


def _input_action(module: fx.GraphModule, site: Site, graph: ModelGraph, state: set[fx.Node]):
    node = _node(module, site.location.target, site)
    slots = activation_slots(node, state)
    expected = _graph_op(graph, node.name).inputs
    index = site.location.index
    if len(slots) != len(expected) or index >= len(slots):
        raise PlanError(
            ErrorDetail(
                path=site.key,
                message=(
                    f"op {node.name} has {len(slots)} activation inputs in the exported graph, "
                    f"but the capture recorded {len(expected)}; input {index} cannot be located."
                ),
            )
        )
    slot, argument = slots[index]

    def insert(target: str) -> None:
        with module.graph.inserting_before(node):
            quantized = module.graph.call_module(target, (argument,))
        quantized.meta = dict(argument.meta)
        replace_slot(node, slot, quantized)

    return insert


def _output_action(node: fx.Node, site: Site):
    index = site.location.index
    target_node = node if index == 0 and not _is_multi_output(node) else _getitem_user(node, index, site)

    def insert(target: str) -> None:
        _quantize_after(node.graph.owning_module, target_node, target)

    return insert


def _is_multi_output(node: fx.Node) -> bool:
    return isinstance(node.meta.get("val"), (list, tuple))


def _getitem_user(node: fx.Node, index: int, site: Site) -> fx.Node:
    for user in node.users:
        if user.op == "call_function" and getattr(user.target, "__name__", "") == "getitem" and user.args[1] == index:
            return user
    raise PlanError(ErrorDetail(path=site.key, message=f"output {index} of op {node.name} is never used in the graph."))


def _quantize_after(module: fx.GraphModule, node: fx.Node, target: str) -> fx.Node:
    with module.graph.inserting_after(node):
        quantized = module.graph.call_module(target, (node,))
    quantized.meta = dict(node.meta)
    node.replace_all_uses_with(quantized, delete_user_cb=lambda user: user is not quantized)
    return quantized


def _graph_op(graph: ModelGraph, name: str):
    for op in graph.ops:
        if op.name == name:
            return op
    raise PlanError(ErrorDetail(path=f"ops/{name}", message=f"op {name} is missing from the captured graph."))


def _module_call(graph: ModelGraph, site: Site):
    for call in graph.module_calls:
        if call.path == site.location.target and call.call_site == site.location.call_site:
            return call
    raise PlanError(
        ErrorDetail(path=site.key, message=f"module {site.location.target} has no recorded call {site.location.call_site}.")
    )


def _module_output_action(module: fx.GraphModule, site: Site, graph: ModelGraph):
    call = _module_call(graph, site)
    if call.last_op is None or len(call.outputs) != 1:
        raise UnsupportedError(
            f"{site.key}: graph-mode module output quantization needs a module with one tensor output "
            f"produced by a recorded op; {call.path} has {len(call.outputs)}. Use an eager-mode plan."
        )
    return _output_action(_node(module, call.last_op, site), site)


def _module_input_action(module: fx.GraphModule, site: Site, graph: ModelGraph, state: set[fx.Node]):
    call = _module_call(graph, site)
    if call.first_op is None or len(call.inputs) != 1:
        # TODO: map forward argument positions to graph nodes for multi-input modules.
        raise UnsupportedError(
            f"{site.key}: graph-mode module input quantization supports modules with one tensor "
            f"argument; {call.path} has {len(call.inputs)}. Use an eager-mode plan for this config."
        )
    first = _node(module, call.first_op, site)
    slots = activation_slots(first, state)
    if not slots:
        raise PlanError(ErrorDetail(path=site.key, message=f"the first op of {call.path} reads no activation."))
    _, argument = slots[0]

    def insert(target: str) -> None:
        users = [user for user in argument.users if _inside(user, call.path)]
        with module.graph.inserting_after(argument):
            quantized = module.graph.call_module(target, (argument,))
        quantized.meta = dict(argument.meta)
        for user in users:
            user.replace_input_with(argument, quantized)

    return insert


def _inside(node: fx.Node, path: str) -> bool:
    stack = node.meta.get("nn_module_stack") or {}
    return any(entry[0] == path for entry in stack.values())
