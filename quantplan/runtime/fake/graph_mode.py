"""Insert quantizer modules into a GraphModule exported from the model (graph-mode plans).

Weights are quantized right after their `get_attr` node, so the quantizer sees the whole
parameter before any view. Op inputs are quantized just before the op, op outputs right
after it. Module boundaries use the module's call signature from torch.export
(`preserve_module_call_signature`), which names the graph node of each forward argument
and output; without one, only modules with one tensor input and output are supported.
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


def insert_quantizers(
    module: fx.GraphModule,
    sites: list[Site],
    quantizers: list[FakeQuantizer],
    graph: ModelGraph,
    *,
    signatures: dict | None = None,
) -> None:
    """Attach one quantizer per site to `module`; every site is located before any change.

    `signatures` maps module paths to torch.export `ModuleCallSignature`s.
    """
    state = parameter_derived_nodes(module)
    signatures = signatures or {}
    _reject_aliased_boundaries(module, sites, signatures)
    actions = [_locate(module, site, graph, state, signatures) for site in sites]
    container = nn.ModuleDict()
    module.add_module(CONTAINER, container)
    for number, (action, quantizer) in enumerate(zip(actions, quantizers, strict=True)):
        name = f"q{number}"
        container[name] = quantizer
        action(f"{CONTAINER}.{name}")
    module.graph.lint()
    module.recompile()


def _locate(
    module: fx.GraphModule, site: Site, graph: ModelGraph, state: set[fx.Node], signatures: dict
):
    kind = site.location.kind
    if kind.startswith("module_") and _signature_node(module, site, signatures) is not None:
        return _boundary_action(module, site, _signature_node(module, site, signatures))
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
        ErrorDetail(
            path=site.key,
            message=f"op {name} of the plan has no node in the exported graph; recompile the plan.",
        )
    )


def _param_action(module: fx.GraphModule, site: Site):
    aliases = set(site.aliases) | {site.location.target}
    nodes = [
        node for node in module.graph.nodes if node.op == "get_attr" and node.target in aliases
    ]
    if not nodes:
        raise PlanError(
            ErrorDetail(
                path=site.key,
                message=f"parameter {site.location.target} is not read by the exported graph.",
            )
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
    target_node = (
        node if index == 0 and not _is_multi_output(node) else _getitem_user(node, index, site)
    )

    def insert(target: str) -> None:
        _quantize_after(node.graph.owning_module, target_node, target)

    return insert


def _is_multi_output(node: fx.Node) -> bool:
    return isinstance(node.meta.get("val"), (list, tuple))


def _getitem_user(node: fx.Node, index: int, site: Site) -> fx.Node:
    for user in node.users:
        if (
            user.op == "call_function"
            and getattr(user.target, "__name__", "") == "getitem"
            and user.args[1] == index
        ):
            return user
    raise PlanError(
        ErrorDetail(
            path=site.key, message=f"output {index} of op {node.name} is never used in the graph."
        )
    )


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
    raise PlanError(
        ErrorDetail(path=f"ops/{name}", message=f"op {name} is missing from the captured graph.")
    )


def _module_call(graph: ModelGraph, site: Site):
    for call in graph.module_calls:
        if call.path == site.location.target and call.call_site == site.location.call_site:
            return call
    raise PlanError(
        ErrorDetail(
            path=site.key,
            message=f"module {site.location.target} has no recorded call {site.location.call_site}.",
        )
    )


def _module_output_action(module: fx.GraphModule, site: Site, graph: ModelGraph):
    call = _module_call(graph, site)
    if call.last_op is None or len(call.outputs) != 1:
        raise UnsupportedError(
            f"{site.key}: torch.export could not preserve the call signature of {call.path} "
            "(a later call of a reused module, or an export that fails with it), and without it "
            f"graph mode supports one tensor output produced by a recorded op; {call.path} has "
            f"{len(call.outputs)}. Use an eager-mode plan."
        )
    return _output_action(_node(module, call.last_op, site), site)


def _module_input_action(
    module: fx.GraphModule, site: Site, graph: ModelGraph, state: set[fx.Node]
):
    call = _module_call(graph, site)
    if call.first_op is None or len(call.inputs) != 1:
        raise UnsupportedError(
            f"{site.key}: torch.export could not preserve the call signature of {call.path} "
            "(a later call of a reused module, or an export that fails with it), and without it "
            f"graph mode supports one tensor argument; {call.path} has {len(call.inputs)}. "
            "Use an eager-mode plan for this config."
        )
    first = _node(module, call.first_op, site)
    slots = activation_slots(first, state)
    if not slots:
        raise PlanError(
            ErrorDetail(path=site.key, message=f"the first op of {call.path} reads no activation.")
        )
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


def _signature_node(module: fx.GraphModule, site: Site, signatures: dict) -> fx.Node | None:
    """Return the graph node of a boundary site from its module's call signature, if recorded."""
    signature = signatures.get(site.location.target)
    if signature is None or site.location.call_site != 0:
        return None
    arguments = signature.inputs if site.location.kind == "module_input" else signature.outputs
    # NOTE: signature entries are the flattened (args, kwargs) leaves, so a forward argument
    # position equals its entry index only while earlier arguments are single values, not
    # lists or dicts.
    index = site.location.index
    name = getattr(arguments[index], "name", None) if index < len(arguments) else None
    if not name:
        return None
    for node in module.graph.nodes:
        if node.name == name:
            return node
    return None


def _boundary_action(module: fx.GraphModule, site: Site, node: fx.Node):
    path = site.location.target
    if site.location.kind == "module_output":
        return lambda target: _quantize_after(module, node, target)

    def insert(target: str) -> None:
        users = [user for user in node.users if _inside(user, path)]
        with module.graph.inserting_after(node):
            quantized = module.graph.call_module(target, (node,))
        quantized.meta = dict(node.meta)
        for user in users:
            user.replace_input_with(node, quantized)

    return insert


def _reject_aliased_boundaries(module: fx.GraphModule, sites: list[Site], signatures: dict) -> None:
    """Raise UnsupportedError when two quantized inputs of one module call are one graph node.

    A call such as `attention(x, x, x)` passes one tensor at several positions. Eager mode
    quantizes each position on its own, but in the graph they are one node whose uses
    inside the module cannot be distinguished.
    """
    seen: dict[tuple[str, str], int] = {}
    for site in sites:
        if site.location.kind != "module_input":
            continue
        node = _signature_node(module, site, signatures)
        if node is None:
            continue
        first = seen.setdefault((site.location.target, node.name), site.location.index)
        if first != site.location.index:
            raise UnsupportedError(
                f"{site.key}: inputs {first} and {site.location.index} of module "
                f"{site.location.target} are the same tensor ({node.name}) in the graph, so "
                "graph mode cannot quantize them separately. Quantize only one of these "
                "positions, or use an eager-mode plan."
            )
