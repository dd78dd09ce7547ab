"""The torch-function mode that quantizes op activations of an eager-mode plan.

It must name ops exactly as eager capture does, so it follows the same rules: functions
that `eager_base_name` rejects, and calls without tensor arguments, are not ops; a view of a
parameter (`w.t()`) is not an op; activation inputs are the floating-point tensor arguments
that are neither parameters nor views of them nor buffers, list elements counted one by one,
then tensor keyword arguments. A fake-quantized weight counts as its parameter.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from quantplan.compiler.capture.eager import EagerOpNamer, eager_base_name, has_tensor
from quantplan.compiler.capture.model_info import module_paths_by_id, module_state_tensors
from quantplan.compiler.capture.op_types import PARAMETER_VIEW_OPS
from quantplan.runtime.fake.quantizer import FakeQuantizer
from quantplan.runtime.fake.sites import Site

__all__ = ["EagerQuantizationMode"]


class EagerQuantizationMode(TorchFunctionMode):
    """Names ops during each root forward and fake-quantizes the plan's activation sites."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.parameters = {id(parameter): parameter for parameter in model.parameters()}
        self.quantized_weights: dict[int, torch.Tensor] = {}
        self.inputs: dict[str, dict[int, FakeQuantizer]] = {}
        self.outputs: dict[str, dict[int, FakeQuantizer]] = {}
        self._paths = module_paths_by_id(model)
        # Listed once: the modules added later (quantizers, parametrizations) keep no buffers
        # or plain tensor attributes, so only the plan's modules hold state tensors.
        self._modules = list(model.modules())
        self._buffers: dict[int, torch.Tensor] = {}
        self._stack: list[str] = []
        self._views: dict[int, torch.Tensor] = {}
        self._call_counts: dict[object, int] = {}
        self._depth = 0
        self.namer = EagerOpNamer()

    def add_site(self, site: Site, quantizer: FakeQuantizer) -> None:
        """Quantize op input or output `site.location.index` of op `site.location.target`."""
        table = self.inputs if site.location.kind == "op_input" else self.outputs
        table.setdefault(site.location.target, {})[site.location.index] = quantizer

    def install(self, model: nn.Module) -> list:
        """Register the hooks that enter the mode per root forward and track the module stack."""
        handles = [
            model.register_forward_pre_hook(self._root_enter, prepend=True),
            model.register_forward_hook(self._root_exit, always_call=True),
        ]
        for module in model.modules():
            # Modules added after this mode was built (parametrizations, quantizers) are not part of the plan's structure.
            if module is not model and id(module) in self._paths:
                handles.append(module.register_forward_pre_hook(self._module_enter, prepend=True))
                handles.append(module.register_forward_hook(self._module_exit, always_call=True))
        return handles

    def next_call_site(self, key: object) -> int:
        """Return how many times `key` was called before in this root forward, and count this call."""
        count = self._call_counts.get(key, 0)
        self._call_counts[key] = count + 1
        return count

    def __deepcopy__(self, memo: dict) -> EagerQuantizationMode:
        """Copy the mode with its modules and parameters, and re-key its id() tables by the copies.

        `copy.deepcopy` of a prepared model reaches the mode through its hooks' bound methods.
        The memo makes the copied modules and parameters the objects that the copied model
        contains, so the copy's hooks find them in `_paths` and `parameters`.
        """
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        # TorchFunctionMode keeps no instance state in torch 2.13, and copying the whole
        # __dict__ also keeps any that a later version adds.
        copied.__dict__.update(copy.deepcopy(self.__dict__, memo))
        copied.parameters = {id(parameter): parameter for parameter in copied.parameters.values()}
        copied._paths = {
            id(module_copy): copied._paths[id(module)]
            for module, module_copy in zip(self._modules, copied._modules, strict=True)
        }
        copied._reset_forward_state()
        return copied

    def _reset_forward_state(self) -> None:
        """Forget the tensors and counts of a forward, as if the mode had never been entered."""
        # Cleared in place because the weight parametrizations share this dict.
        self.quantized_weights.clear()
        self._buffers = {}
        self._stack.clear()
        self._views.clear()
        self._call_counts.clear()
        self._depth = 0

    # -- hooks -------------------------------------------------------------------------

    def _root_enter(self, module: nn.Module, args: tuple) -> None:
        self._depth += 1
        if self._depth > 1:
            return
        self.namer = EagerOpNamer()
        self._call_counts.clear()
        self._views.clear()
        self._stack.clear()
        # Collected per forward because `model.to(...)` replaces buffer tensors.
        self._buffers = module_state_tensors(self._modules)
        self.__enter__()

    def _root_exit(self, module: nn.Module, args: tuple, output: Any) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.__exit__(None, None, None)
            self._views.clear()
            self.quantized_weights.clear()

    def _module_enter(self, module: nn.Module, args: tuple) -> None:
        self._stack.append(self._paths[id(module)][0])

    def _module_exit(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self._stack:
            self._stack.pop()

    # -- ops ---------------------------------------------------------------------------

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        base = eager_base_name(func)
        if base is None or not has_tensor(args, kwargs):
            return func(*args, **kwargs)
        if self._is_parameter_view(base, args, kwargs):
            output = func(*args, **kwargs)
            for tensor in pytree.tree_leaves(output):
                if isinstance(tensor, torch.Tensor):
                    self._views[id(tensor)] = tensor
            return output
        name = self.namer.name(self._stack[-1] if self._stack else "", base)
        inputs, outputs = self.inputs.get(name), self.outputs.get(name)
        if inputs:
            args, kwargs = self._quantize_inputs(args, kwargs, inputs)
        output = func(*args, **kwargs)
        if outputs:
            output = _quantize_outputs(output, outputs)
        return output

    def _is_state(self, value: Any) -> bool:
        if not isinstance(value, torch.Tensor):
            return False
        key = id(value)
        for table in (self.parameters, self.quantized_weights, self._views):
            known = table.get(key)
            if known is not None and known is value:
                return True
        return False

    def _is_parameter_view(self, base: str, args: tuple, kwargs: dict) -> bool:
        if base not in PARAMETER_VIEW_OPS or not args or not isinstance(args[0], torch.Tensor):
            return False
        if has_tensor(args[1:], kwargs):
            return False
        return self._is_state(args[0])

    def _quantize_inputs(self, args: tuple, kwargs: dict, quantizers: dict[int, FakeQuantizer]):
        counter = [0]

        def visit(value: Any) -> Any:
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                return value
            if self._is_state(value) or self._buffers.get(id(value)) is value:
                return value
            index = counter[0]
            counter[0] += 1
            quantizer = quantizers.get(index)
            return value if quantizer is None else quantizer(value)

        new_args = []
        for value in args:
            if isinstance(value, (list, tuple)):
                new_args.append(type(value)(visit(item) for item in value))
            else:
                new_args.append(visit(value))
        new_kwargs = {
            key: visit(value) if isinstance(value, torch.Tensor) else value
            for key, value in kwargs.items()
        }
        return tuple(new_args), new_kwargs


def _quantize_outputs(output: Any, quantizers: dict[int, FakeQuantizer]) -> Any:
    if isinstance(output, torch.Tensor):
        quantizer = quantizers.get(0)
        return output if quantizer is None else quantizer(output)
    counter = [0]

    def visit(tensor: torch.Tensor) -> torch.Tensor:
        index = counter[0]
        counter[0] += 1
        quantizer = quantizers.get(index)
        return tensor if quantizer is None else quantizer(tensor)

    return pytree.tree_map_only(torch.Tensor, visit, output)
