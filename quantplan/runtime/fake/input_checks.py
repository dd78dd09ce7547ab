"""Input checks of graph-mode prepared models: clear errors, run once per input signature.

A module unlifted from torch.export checks every call twice. A forward pre-hook compares the
inputs' pytree structure with the exported one. A `_guards_fn` node checks the input shapes
that export did not make dynamic (see `runtime_export`), and the non-tensor arguments, which
export fixes at their example values. On a small model the two cost about as much as a
convolution. Both checks depend only on the inputs' structure, shapes and plain values, so
`install_input_checks` makes each run once per distinct input signature.

The guard raises a bare AssertionError. `ShapeGuard` turns it into a PlanError with the fix:
`dynamic_shapes` for a fixed dimension, the compiled value for a fixed non-tensor argument.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

import torch
from torch import nn

from quantplan.errors import ErrorDetail, PlanError

__all__ = [
    "AcceptedSignatures",
    "ShapeGuard",
    "StructureCheck",
    "input_signature",
    "install_input_checks",
]

# Inputs whose shape changes every call (variable sequence lengths) must not grow the set of
# accepted signatures without bound.
MAX_ACCEPTED_SIGNATURES = 64
_PLAIN_TYPES = (bool, int, float, str)


def input_signature(args: tuple, kwargs: dict) -> tuple | None:
    """Return a hashable key of a call's inputs, or None where the inputs have containers.

    Tensors count by shape and dtype and plain values (None, bool, int, float, str) by value,
    so two calls with one key have the same pytree structure and pass the same guards. Lists,
    dicts and other objects return None, and their calls are checked every time, as are calls
    traced by torch.export or torch.compile.
    """
    if torch.compiler.is_compiling():
        # Under torch.export or torch.compile shapes may be symbolic, which cannot be hashed.
        return None
    parts = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            parts.append((value.shape, value.dtype))
        elif value is None or type(value) in _PLAIN_TYPES:
            parts.append((type(value), value))
        else:
            return None
    return tuple(kwargs), tuple(parts)


class AcceptedSignatures:
    """The input signatures that a check has accepted."""

    def __init__(self) -> None:
        self._keys: set[tuple] = set()

    def __contains__(self, key: tuple | None) -> bool:
        return key is not None and key in self._keys

    def add(self, key: tuple | None) -> None:
        if key is None:
            return
        if len(self._keys) >= MAX_ACCEPTED_SIGNATURES:
            self._keys.clear()
        self._keys.add(key)

    def check_once(self, key: tuple | None, check: Callable[[], object]) -> None:
        """Run `check` unless `key` was accepted before; remember `key` once `check` passes."""
        if key in self:
            return
        check()
        self.add(key)


class ShapeGuard(nn.Module):
    """Wraps torch.export's input guard: a rejected input raises PlanError with the fix.

    The guard runs once per input signature; a signature it accepted is not checked again.
    """

    def __init__(self, guard: nn.Module):
        super().__init__()
        self.guard = guard
        self.accepted = AcceptedSignatures()

    def forward(self, *args) -> None:
        self.accepted.check_once(input_signature(args, {}), lambda: self._check(args))

    def _check(self, args: tuple) -> None:
        try:
            self.guard(*args)
        except AssertionError as error:
            raise PlanError(
                ErrorDetail(path="inputs", message=_shape_message(str(error)))
            ) from error


class StructureCheck:
    """Wraps torch.export's forward pre-hook that checks the inputs' pytree structure.

    The hook runs once per input signature; a signature it accepted is not checked again.
    """

    def __init__(self, hook):
        self.hook = hook
        self.accepted = AcceptedSignatures()

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.accepted.check_once(
            input_signature(args, kwargs), lambda: self.hook(module, args, kwargs)
        )


def _shape_message(guard: str) -> str:
    """Describe a failed guard such as `Guard failed: ids.size()[1] == 7` and how to fix it.

    A guard on an argument that is not a tensor, such as `Guard failed: scale == 2.0`, gets
    `_value_message` instead, because no shape declaration can fix it.
    """
    value_match = _VALUE_GUARD.fullmatch(guard.strip())
    if value_match is not None and _is_literal(value_match.group(2)):
        return _value_message(guard, *value_match.groups())
    match = _SIZE_GUARD.search(guard)
    if match is None:
        problem = f"the prepared graph does not accept these input shapes ({guard})."
        dimension = "0"
    else:
        name, dimension, size = match.groups()
        problem = (
            f"input {name!r}: dimension {dimension} is fixed at {size} in the prepared graph "
            f"and this batch has another size ({guard})."
        )
    return (
        f"{problem} torch.export fixed the dimensions that the model does not let vary "
        "(a size of 1 always, or a size the model's code depends on). "
        "Compile the plan with dynamic_shapes= declaring the dimensions that vary, for example "
        f"Quantizer.prepare(inputs, dynamic_shapes=({{{dimension}: torch.export.Dim.DYNAMIC}},)) "
        "or compile_plan(..., dynamic_shapes=...); the quantplan CLI cannot declare them, so there "
        "calibrate with the example's shapes, or use an eager-mode plan."
    )


def _value_message(guard: str, name: str, value: str) -> str:
    """Describe a failed guard on an argument that is not a tensor, such as `flag == True`."""
    return (
        f"argument {name!r} was fixed at {value} when the plan was compiled, and this call "
        f"passes another value ({guard}). torch.export specializes arguments that are not "
        "tensors, such as bools, ints, floats and strings, to their values in the example "
        f"inputs. Pass {value} as {name!r} in every call, or compile the plan "
        "(Quantizer.prepare or compile_plan) with example inputs that contain the value this "
        "call needs."
    )


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return False
    return True


_SIZE_GUARD = re.compile(r"(\w+)\.size\(\)\[(\d+)\] == (\d+)")
# An argument's name, with the keys or indices of its place in a container (`cfg['k']`), a
# comparison with `==`, and a literal value.
_VALUE_GUARD = re.compile(r"Guard failed: (\w+(?:\[[^\]]+\])*) == (.+)")


def install_input_checks(module: nn.Module) -> None:
    """Wrap the input checks of a module unlifted from torch.export (see the module docstring)."""
    guard = getattr(module, "_guards_fn", None)
    if isinstance(guard, nn.Module) and not isinstance(guard, ShapeGuard):
        module._guards_fn = ShapeGuard(guard)
    hooks = module._forward_pre_hooks
    for handle_id, hook in list(hooks.items()):
        if getattr(hook, "__name__", "") == "_check_input_constraints_pre_hook":
            hooks[handle_id] = StructureCheck(hook)
