"""Turn the nodes of a torch.export program into OpNode records.

Node names become op names. Placeholders are mapped back to parameter paths through the
export graph signature; view nodes applied to a parameter (transpose, slice, split) are folded
into the consuming op's ParamUse instead of becoming ops; `operator.getitem` nodes are
folded into their producer.
"""

from __future__ import annotations

import operator
from typing import Any

import attrs
import torch
from torch import fx, nn

from quantplan.compiler.capture.model_info import ParameterTable, qualified_name
from quantplan.compiler.capture.module_paths import ModulePathMapper
from quantplan.compiler.capture.op_types import (
    PARAMETER_VIEW_OPS,
    WEIGHT_MATMUL_OPS,
    canonical_op_type,
)
from quantplan.compiler.capture.param_uses import (
    param_layout,
    param_role,
    view_kind,
    weight_operand_index,
)
from quantplan.compiler.capture.tensors import tensor_info
from quantplan.compiler.graph import OpNode, ParamUse

__all__ = ["GraphOps", "build_graph_ops"]


@attrs.frozen
class _ParamRef:
    """A parameter reached from a node: its path and the views applied on the way."""

    path: str
    views: tuple[str, ...] = ()

    @property
    def view(self) -> str | None:
        kinds = [kind for kind in self.views if kind is not None]
        return kinds[0] if kinds else None

    @property
    def transposed(self) -> bool:
        return sum(kind == "transpose" for kind in self.views) % 2 == 1


@attrs.frozen
class GraphOps:
    """The ops of an exported program, and the (module path, call site) levels of each op."""

    ops: tuple[OpNode, ...]
    call_levels: dict[str, tuple[tuple[str, int], ...]]


def build_graph_ops(program: torch.export.ExportedProgram, model: nn.Module) -> GraphOps:
    """Build the OpNode list of `program`, an export of `model`."""
    builder = _Builder(program, model)
    for node in program.graph.nodes:
        if node.op == "call_function":
            builder.visit(node)
    return GraphOps(ops=tuple(builder.ops), call_levels=builder.call_levels)


class _Builder:
    def __init__(self, program: torch.export.ExportedProgram, model: nn.Module):
        signature = program.graph_signature
        self.model = model
        self.params = ParameterTable(model)
        self.mapper = ModulePathMapper(model)
        self.root_type = qualified_name(type(model))
        self.param_refs: dict[str, _ParamRef] = {
            name: _ParamRef(path) for name, path in signature.inputs_to_parameters.items()
        }
        self.state_inputs = set(signature.inputs_to_buffers) | set(
            signature.inputs_to_lifted_tensor_constants
        )
        self.producers: dict[str, str | None] = {}
        self.keys_by_path: dict[str, list[str]] = {}
        self.ops: list[OpNode] = []
        self.call_levels: dict[str, tuple[tuple[str, int], ...]] = {}

    def visit(self, node: fx.Node) -> None:
        base = _base_name(node)
        if self._fold_parameter_view(node, base):
            return
        if node.target is operator.getitem:
            source = node.args[0]
            self.producers[node.name] = self.producers.get(getattr(source, "name", None))
            return
        if not _has_tensor_output(node):
            return
        self._add_op(node, base)

    def _fold_parameter_view(self, node: fx.Node, base: str) -> bool:
        source = node.args[0] if node.args else None
        if not isinstance(source, fx.Node) or source.name not in self.param_refs:
            return False
        if base not in PARAMETER_VIEW_OPS and node.target is not operator.getitem:
            return False
        if any(isinstance(arg, fx.Node) for arg in _flat_args(node)[1:]):
            return False
        ref = self.param_refs[source.name]
        kind = view_kind("getitem" if node.target is operator.getitem else base)
        self.param_refs[node.name] = attrs.evolve(ref, views=(*ref.views, kind))
        return True

    def _add_op(self, node: fx.Node, base: str) -> None:
        inputs, producers, uses = [], [], []
        op_type = self._op_type(node, base)
        for index, arg in _flat_positional(node):
            if not isinstance(arg, fx.Node):
                continue
            if arg.name in self.param_refs:
                uses.append((index, self.param_refs[arg.name]))
            elif arg.name not in self.state_inputs and _is_float(arg):
                inputs.append(tensor_info(arg.meta["val"]))
                producers.append(self.producers.get(arg.name))
        stack, levels = self._module_stack(node)
        module, module_type = stack[-1] if stack else ("", self.root_type)
        self.ops.append(
            OpNode(
                name=node.name,
                type=op_type,
                target=str(node.target),
                module=module,
                module_type=module_type,
                module_stack=stack,
                call_site=levels[-1][1] if levels else 0,
                inputs=tuple(inputs),
                input_producers=tuple(producers),
                outputs=tuple(tensor_info(value) for value in _output_tensors(node)),
                params=tuple(
                    self._param_use(base, op_type, index, ref, module) for index, ref in uses
                ),
            )
        )
        self.call_levels[node.name] = levels
        self.producers[node.name] = node.name

    def _op_type(self, node: fx.Node, base: str) -> str:
        if base == "convolution":
            return _convolution_type(node)
        if base in WEIGHT_MATMUL_OPS:
            index = weight_operand_index(base)
            operand = node.args[index] if len(node.args) > index else None
            if isinstance(operand, fx.Node) and operand.name in self.param_refs:
                return "linear"
        return canonical_op_type(base)

    def _param_use(
        self, base: str, op_type: str, index: int, ref: _ParamRef, module: str
    ) -> ParamUse:
        lookup = "linear" if op_type == "linear" and base == "linear" else base
        if op_type.startswith("conv"):
            lookup = op_type
        role = param_role(lookup, index)
        path = self.params.path_under(ref.path, module) if ref.path in self.params else ref.path
        return ParamUse(
            local_name=path.rpartition(".")[2],
            path=path,
            role=role,
            layout=param_layout(base, op_type, role, ref.transposed),
            view=ref.view,
        )

    def _module_stack(self, node: fx.Node) -> tuple[tuple, tuple]:
        stack, levels = [], []
        for key, (raw_path, _) in (node.meta.get("nn_module_stack") or {}).items():
            path = self.mapper.resolve(raw_path)
            if not path:
                continue
            module = self.model.get_submodule(path)
            stack.append((path, qualified_name(type(module))))
            levels.append((path, self._call_index(path, key)))
        return tuple(stack), tuple(levels)

    def _call_index(self, path: str, key: str) -> int:
        _, marker, suffix = key.rpartition("@")
        if marker and suffix.isdigit():
            return int(suffix)
        keys = self.keys_by_path.setdefault(path, [])
        if key not in keys:
            keys.append(key)
        return keys.index(key)


def _base_name(node: fx.Node) -> str:
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return target._opname
    return getattr(target, "__name__", str(target))


def _convolution_type(node: fx.Node) -> str:
    weight = node.args[1]
    rank = len(weight.meta["val"].shape) - 2
    transposed = bool(node.args[6]) if len(node.args) > 6 else False
    return f"conv_transpose{rank}d" if transposed else f"conv{rank}d"


def _flat_args(node: fx.Node) -> list[Any]:
    return [arg for _, arg in _flat_positional(node)] + list(node.kwargs.values())


def _flat_positional(node: fx.Node) -> list[tuple[int, Any]]:
    """Pair positional arguments with their index; a list argument (cat's tensors) gives one
    pair per element, all with the list's index."""
    pairs = []
    for index, arg in enumerate(node.args):
        if isinstance(arg, (list, tuple)):
            pairs.extend((index, item) for item in arg)
        else:
            pairs.append((index, arg))
    return pairs


def _is_float(node: fx.Node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _output_tensors(node: fx.Node) -> list[torch.Tensor]:
    value = node.meta.get("val")
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, torch.Tensor)]
    return []


def _has_tensor_output(node: fx.Node) -> bool:
    return bool(_output_tensors(node))
