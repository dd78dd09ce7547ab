"""Eager-mode capture: run forward once and record every torch-function call.

Op names are `<module path>.<base>[_N]`, counted per module path and base name, with no
prefix for ops in the root's own forward (`fc.linear`, `fc.linear_1`, `add`). The runtime
names ops through the same `EagerOpNamer` and `eager_base_name`, so names agree.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from quantplan.compiler.capture.failures import capture_error
from quantplan.compiler.capture.model_info import (
    ParameterTable,
    describe_modules,
    qualified_name,
    state_tensors,
)
from quantplan.compiler.capture.module_calls import ModuleCallRecorder
from quantplan.compiler.capture.op_types import (
    PARAMETER_VIEW_OPS,
    WEIGHT_MATMUL_OPS,
    canonical_op_type,
)
from quantplan.compiler.capture.param_uses import param_layout, param_role, view_kind
from quantplan.compiler.capture.signature import describe_inputs
from quantplan.compiler.capture.tensors import flat_tensors, tensor_info
from quantplan.compiler.graph import CaptureInfo, ModelGraph, OpNode, ParamUse

__all__ = ["EagerOpNamer", "EagerOpTracer", "capture_eager", "eager_base_name", "has_tensor"]

# Torch functions that query a tensor instead of computing one; they are never ops.
_QUERY_FUNCTIONS = frozenset(
    {
        "size", "dim", "numel", "stride", "item", "tolist", "is_floating_point", "is_complex",
        "is_contiguous", "data_ptr", "element_size", "nelement", "ndimension", "storage_offset",
        "__len__", "__bool__", "__format__", "__repr__", "__hash__", "__iter__", "__index__",
        "__int__", "__float__", "__reduce_ex__", "__setstate__", "__deepcopy__", "type",
        "requires_grad_", "retain_grad", "register_hook", "has_names", "get_device", "__contains__",
    }
)  # fmt: skip


# Python-level functionals that the tracer records call by call instead of as one op.
_COMPOSITE_FUNCTIONS = frozenset({"multi_head_attention_forward"})


def eager_base_name(func: Any) -> str | None:
    """Return the canonical base name of a torch function call, or None if it is no op.

    Attribute access (`Tensor.shape`), size queries and conversions to Python values are not
    ops; every other torch function is, named by its canonical op type (`__add__` -> `add`).
    """
    name = getattr(func, "__name__", None)
    if name is None or name in ("__get__", "__set__", "__delete__") or name in _QUERY_FUNCTIONS:
        return None
    return canonical_op_type(name)


class EagerOpNamer:
    """Assign eager op names: `<module path>.<base>`, then `_1`, `_2` for later calls."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def name(self, module_path: str, base: str) -> str:
        """Return the name of the next `base` op run inside `module_path` ("" for the root)."""
        key = (module_path, base)
        count = self._counts.get(key, 0)
        self._counts[key] = count + 1
        stem = f"{module_path}.{base}" if module_path else base
        return stem if count == 0 else f"{stem}_{count}"


class EagerOpTracer(TorchFunctionMode):
    """A torch-function mode that names each op call and records it as an OpNode.

    Views of parameters (`w.t()`, `w.chunk(3)`) are not ops: the tracer remembers them and
    reports the parameter, with the view kind, in the op that consumes the view. Use it
    together with `calls.installed()`, which tracks the active module.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.params = ParameterTable(model)
        self.state = state_tensors(model)
        self.calls = ModuleCallRecorder(model)
        self.namer = EagerOpNamer()
        self.root_type = qualified_name(type(model))
        self.ops: list[OpNode] = []
        self._views: dict[int, tuple[torch.Tensor, str, tuple]] = {}
        self._producers: dict[int, tuple[torch.Tensor, str]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        base = eager_base_name(func)
        if base is None or not has_tensor(args, kwargs):
            return func(*args, **kwargs)
        if base in _COMPOSITE_FUNCTIONS:
            return self._run_composite(func, args, kwargs)
        parameter = self._viewed_parameter(base, args, kwargs)
        if parameter is not None:
            output = func(*args, **kwargs)
            self._remember_view(output, parameter, base)
            return output
        module_path = self.calls.stack[-1].path if self.calls.stack else ""
        name = self.namer.name(module_path, base)
        self.calls.note_op(name)
        output = func(*args, **kwargs)
        self._record(name, base, func, args, kwargs, output)
        return output

    def _run_composite(self, func, args, kwargs):
        """Run a Python-level functional such as multi_head_attention_forward with this mode
        active inside it, so that its linear, bmm and softmax calls are recorded as ops."""
        functional = torch.nn.functional
        original = functional.has_torch_function
        # The functional re-dispatches to the mode whenever has_torch_function is true, which
        # would recurse; its own check is switched off while its body runs under the mode.
        functional.has_torch_function = lambda *_: False
        try:
            with self:
                return func(*args, **kwargs)
        finally:
            functional.has_torch_function = original

    def _viewed_parameter(self, base, args, kwargs) -> tuple[str, tuple] | None:
        if base not in PARAMETER_VIEW_OPS or not args or not isinstance(args[0], torch.Tensor):
            return None
        if has_tensor(args[1:], kwargs):
            return None
        return self._parameter_ref(args[0])

    def _parameter_ref(self, tensor: torch.Tensor) -> tuple[str, tuple] | None:
        path = self.params.path_of(tensor)
        if path is not None:
            return path, ()
        remembered = self._views.get(id(tensor))
        if remembered is not None and remembered[0] is tensor:
            return remembered[1], remembered[2]
        return None

    def _remember_view(self, output, parameter, base) -> None:
        path, views = parameter
        for tensor in flat_tensors(output):
            self._views[id(tensor)] = (tensor, path, (*views, view_kind(base)))

    def _record(self, name, base, func, args, kwargs, output) -> None:
        inputs, producers, uses = [], [], []
        weight_matmul = False
        for index, value in _flat_arguments(args, kwargs):
            parameter = self._parameter_ref(value)
            if parameter is not None:
                uses.append((index, parameter))
                weight_matmul |= base in WEIGHT_MATMUL_OPS and index == _matmul_weight_index(base)
            elif value.is_floating_point() and not self._is_buffer(value):
                inputs.append(tensor_info(value))
                producers.append(self._producer_of(value))
        op_type = "linear" if weight_matmul else base
        stack = tuple((call.path, call.type) for call in self.calls.stack)
        module, module_type = stack[-1] if stack else ("", self.root_type)
        outputs = flat_tensors(output)
        self.ops.append(
            OpNode(
                name=name,
                type=op_type,
                target=_qualified_function_name(func),
                module=module,
                module_type=module_type,
                module_stack=stack,
                call_site=self.calls.stack[-1].call_site if self.calls.stack else 0,
                inputs=tuple(inputs),
                input_producers=tuple(producers),
                outputs=tuple(tensor_info(tensor) for tensor in outputs),
                params=tuple(
                    self._param_use(base, op_type, index, ref, module) for index, ref in uses
                ),
            )
        )
        for tensor in outputs:
            self._producers[id(tensor)] = (tensor, name)

    def _is_buffer(self, tensor: torch.Tensor) -> bool:
        known = self.state.get(id(tensor))
        return known is not None and known is tensor

    def _producer_of(self, tensor: torch.Tensor) -> str | None:
        known = self._producers.get(id(tensor))
        return known[1] if known is not None and known[0] is tensor else None

    def _param_use(self, base, op_type, index, ref, module) -> ParamUse:
        path, views = ref
        path = self.params.path_under(path, module)
        role = param_role(op_type if op_type.startswith("conv") else base, index, eager=True)
        transposed = sum(kind == "transpose" for kind in views) % 2 == 1
        kinds = [kind for kind in views if kind is not None]
        return ParamUse(
            local_name=path.rpartition(".")[2],
            path=path,
            role=role,
            layout=param_layout(base, op_type, role, transposed),
            view=kinds[0] if kinds else None,
        )


def capture_eager(model: nn.Module, args: tuple, kwargs: dict) -> ModelGraph:
    """Run `model` once in eval mode without gradients and record its ops and module calls."""
    parameter = next(model.parameters(), None)
    # TODO: a meta-device forward fails on `.item()` (HF Llama's mask and rotary code); running
    # eager capture under FakeTensorMode would not help there, so such models need graph mode.
    if parameter is not None and parameter.device.type == "meta":
        args, kwargs = pytree.tree_map_only(torch.Tensor, lambda t: t.to("meta"), (args, kwargs))
    tracer = EagerOpTracer(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), tracer.calls.installed(), tracer:
            model(*args, **kwargs)
    except (
        Exception
    ) as error:  # the user's forward can raise anything; report it as capture failure
        raise capture_error("eager", error) from error
    finally:
        model.train(was_training)
    return ModelGraph(
        root_class=qualified_name(type(model)),
        execution_mode="eager",
        ops=tuple(tracer.ops),
        modules=describe_modules(model),
        module_calls=tracer.calls.sorted_calls(),
        parameters=tracer.params.infos(),
        inputs=describe_inputs((args, kwargs)),
        capture=CaptureInfo(mode="eager", method="torch_function_mode"),
    )


def has_tensor(args: tuple, kwargs: dict) -> bool:
    """Return whether any pytree leaf of `(args, kwargs)` is a tensor.

    Most calls pass a tensor directly, so those return before the pytree walk, which would
    cost more than the op itself on small tensors.
    """
    values = (*args, *kwargs.values())
    if any(isinstance(value, torch.Tensor) for value in values):
        return True
    return any(isinstance(leaf, torch.Tensor) for leaf in pytree.tree_leaves(values))


def _flat_arguments(args: tuple, kwargs: dict) -> list[tuple[int, torch.Tensor]]:
    """Pair each tensor argument with its argument index; list elements share their list's index.

    NOTE: keyword tensors are numbered after the positional ones in call order, which
    matches the signature only when the caller keeps that order.
    """
    pairs = []
    for index, value in enumerate(args):
        items = value if isinstance(value, (list, tuple)) else [value]
        pairs += [(index, item) for item in items if isinstance(item, torch.Tensor)]
    offset = len(args)
    for index, value in enumerate(kwargs.values()):
        if isinstance(value, torch.Tensor):
            pairs.append((offset + index, value))
    return pairs


def _matmul_weight_index(base: str) -> int:
    return 2 if base == "addmm" else 1


def _qualified_function_name(func: Any) -> str:
    module = getattr(func, "__module__", None) or "torch"
    return f"{module}.{getattr(func, '__qualname__', getattr(func, '__name__', repr(func)))}"
