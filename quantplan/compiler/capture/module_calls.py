"""Record module forward calls (tensor arguments by signature position, tensor outputs).

The recorder installs forward pre/post hooks on every submodule. It runs during a
non-strict torch.export (the hooks then see fake tensors) and during eager capture, where it
also tells the op recorder which module is active.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import torch
from torch import nn

from quantplan.compiler.capture.model_info import module_paths_by_id, qualified_name
from quantplan.compiler.capture.tensors import flat_tensors, tensor_info
from quantplan.compiler.graph import ModuleCall, TensorInfo

__all__ = ["ActiveCall", "ModuleCallRecorder", "argument_positions"]


@attrs.define
class ActiveCall:
    """A module call in progress: its path, class, call index and the ops seen inside it."""

    path: str
    type: str
    call_site: int
    inputs: tuple[tuple[int, TensorInfo], ...]
    order: int = 0
    first_op: str | None = None
    last_op: str | None = None


class ModuleCallRecorder:
    """Record ModuleCall records for every submodule call, in the order calls finish."""

    def __init__(self, model: nn.Module):
        self._model = model
        self._paths = module_paths_by_id(model)
        self._call_counts: dict[int, int] = {}
        self.stack: list[ActiveCall] = []
        self.calls: list[ModuleCall] = []
        self._order: list[int] = []

    @contextmanager
    def installed(self) -> Iterator[ModuleCallRecorder]:
        """Install the hooks for the duration of the block."""
        handles = []
        for module in self._model.modules():
            if module is self._model:
                continue
            handles.append(module.register_forward_pre_hook(self._enter, with_kwargs=True))
            handles.append(
                module.register_forward_hook(self._exit, with_kwargs=True, always_call=True)
            )
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def sorted_calls(self) -> tuple[ModuleCall, ...]:
        """Return the recorded calls in the order they started."""
        order = sorted(range(len(self.calls)), key=self._order.__getitem__)
        return tuple(self.calls[index] for index in order)

    def _enter(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        call_site = self._call_counts.get(id(module), 0)
        self._call_counts[id(module)] = call_site + 1
        inputs = tuple(
            (position, tensor_info(value))
            for position, value in argument_positions(module, args, kwargs)
        )
        path = self._paths[id(module)][0]
        order = sum(self._call_counts.values())
        self.stack.append(
            ActiveCall(path, qualified_name(type(module)), call_site, inputs, order=order)
        )

    def _exit(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if not self.stack:
            return
        active = self.stack.pop()
        outputs = tuple(tensor_info(tensor) for tensor in flat_tensors(output))
        self.calls.append(
            ModuleCall(
                path=active.path,
                type=active.type,
                call_site=active.call_site,
                inputs=active.inputs,
                outputs=outputs,
                first_op=active.first_op,
                last_op=active.last_op,
            )
        )
        self._order.append(active.order)

    def note_op(self, name: str) -> None:
        """Mark op `name` as run inside every module call now in progress."""
        for active in self.stack:
            if active.first_op is None:
                active.first_op = name
            active.last_op = name


def argument_positions(module: nn.Module, args: tuple, kwargs: dict) -> list[tuple[int, Any]]:
    """Pair each tensor argument of a forward call with its position in the signature.

    An argument passed by keyword counts at its signature position, and the elements of
    `*args` count from the position of the `*args` parameter on.
    """
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        signature = None
    pairs: list[tuple[int, Any]] = list(enumerate(args))
    if signature is not None:
        pairs = _bind_positions(signature, args, kwargs)
    return [(position, value) for position, value in pairs if _is_tensor(value)]


def _bind_positions(signature: inspect.Signature, args: tuple, kwargs: dict) -> list:
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return list(enumerate(args))
    parameters = list(signature.parameters)
    pairs = []
    for name, value in bound.arguments.items():
        position = parameters.index(name)
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            pairs += [(position + offset, item) for offset, item in enumerate(value)]
        elif kind is inspect.Parameter.VAR_KEYWORD:
            pairs += [
                (len(parameters) + offset, item) for offset, item in enumerate(value.values())
            ]
        else:
            pairs.append((position, value))
    return sorted(pairs, key=lambda pair: pair[0])


def _is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor)
