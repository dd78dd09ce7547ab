"""The example-input signature: a JSON-able record of the inputs' structure, shapes and dtypes.

Apply captures the model again from this record (zeros of the recorded shapes), so it needs
no user data. Example: `describe_inputs((torch.zeros(2, 7, dtype=torch.int64),))` returns
`{"args": [{"shape": [2, 7], "dtype": "int64"}], "kwargs": {}, "dynamic_shapes": None}`.

An integer or bool tensor whose elements all equal one nonzero value also records it as
`fill` (an all-ones attention mask gets `"fill": 1`), and the rebuilt input is filled with
it. A model such as HF BERT traces another graph for an all-zero mask. Any other
integer tensor, token ids for example, is rebuilt as zeros. A record without `fill` means 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch._subclasses.fake_tensor import is_fake
from torch.export.dynamic_shapes import _DimHint

from quantplan.errors import PlanError

__all__ = [
    "describe_inputs",
    "dynamic_shapes_from_signature",
    "inputs_from_signature",
    "split_example_inputs",
]


def split_example_inputs(example_inputs: Any) -> tuple[tuple, dict]:
    """Split example inputs into (args, kwargs).

    A tuple or list is positional arguments, a dict is keyword arguments, a pair
    `(tuple, dict)` is both, and a single tensor is one positional argument.
    """
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,), {}
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if (
        isinstance(example_inputs, tuple)
        and len(example_inputs) == 2
        and isinstance(example_inputs[0], tuple)
        and isinstance(example_inputs[1], dict)
    ):
        return tuple(example_inputs[0]), dict(example_inputs[1])
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    raise PlanError(
        f"example_inputs must be a tensor, a tuple of arguments, a dict of keyword arguments "
        f"or an (args, kwargs) pair, got {type(example_inputs).__name__}"
    )


def describe_inputs(example_inputs: Any, dynamic_shapes: Any = None) -> dict:
    """Describe example inputs as {"args": [...], "kwargs": {...}, "dynamic_shapes": ...}.

    A tensor becomes {"shape", "dtype"}; a list or tuple {"sequence": [...], "type"}; a dict
    {"mapping": {...}}; a Python scalar or None {"value": v}.
    """
    args, kwargs = split_example_inputs(example_inputs)
    return {
        "args": [_describe_value(value) for value in args],
        "kwargs": {key: _describe_value(value) for key, value in sorted(kwargs.items())},
        "dynamic_shapes": _describe_dynamic_shapes(dynamic_shapes),
    }


def inputs_from_signature(signature: dict, device: str | torch.device = "cpu") -> tuple:
    """Build example inputs of zeros (or each tensor's recorded `fill`) from `describe_inputs`'s signature.

    Returns a tuple of positional arguments, or an `(args, kwargs)` pair when the signature
    has keyword arguments, in the form `capture_model` accepts.
    """
    args = tuple(_build_value(value, device) for value in signature.get("args", []))
    kwargs = {
        key: _build_value(value, device) for key, value in signature.get("kwargs", {}).items()
    }
    if kwargs:
        return args, kwargs
    return args


def dynamic_shapes_from_signature(signature: dict) -> Any:
    """Rebuild the `dynamic_shapes` argument of torch.export from a recorded signature."""
    return _build_dynamic_shapes(signature.get("dynamic_shapes"))


def _describe_value(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        description = {
            "shape": [_dim(size) for size in value.shape],
            "dtype": dtype_name(value.dtype),
        }
        fill = _constant_fill(value)
        return description if fill is None else {**description, "fill": fill}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"sequence": [_describe_value(item) for item in value], "type": kind}
    if isinstance(value, dict):
        return {"mapping": {str(key): _describe_value(item) for key, item in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise PlanError(
        f"example input of type {type(value).__name__} cannot be recorded in the plan; "
        "pass tensors, Python scalars, or lists, tuples and dicts of them"
    )


def _constant_fill(tensor: torch.Tensor) -> int | None:
    """Return the one nonzero value of an integer or bool tensor whose elements are all equal, else None."""
    if tensor.is_floating_point() or tensor.is_complex() or tensor.numel() == 0:
        return None
    if tensor.is_meta or is_fake(tensor) or not all(isinstance(size, int) for size in tensor.shape):
        return None
    first = tensor.reshape(-1)[0]
    if not bool((tensor == first).all()):
        return None
    value = int(first.item())
    return value if value != 0 else None


def _build_value(description: Any, device: str | torch.device) -> Any:
    if "dtype" in description:
        dtype = getattr(torch, description["dtype"])
        return torch.full(
            description["shape"], description.get("fill", 0), dtype=dtype, device=device
        )
    if "sequence" in description:
        items = [_build_value(item, device) for item in description["sequence"]]
        return tuple(items) if description.get("type") == "tuple" else items
    if "mapping" in description:
        return {key: _build_value(item, device) for key, item in description["mapping"].items()}
    return description["value"]


def dtype_name(dtype: torch.dtype) -> str:
    """Return the short name of a torch dtype (`float32`, `int64`)."""
    return str(dtype).removeprefix("torch.")


def _dim(size: Any) -> int | str:
    return size if isinstance(size, int) else str(size)


def _describe_dynamic_shapes(spec: Any) -> Any:
    if spec is None:
        return None
    if isinstance(spec, dict) and all(isinstance(key, int) for key in spec):
        return {"dims": {str(key): _describe_dim(item) for key, item in spec.items()}}
    if isinstance(spec, dict):
        return {"mapping": {str(key): _describe_dynamic_shapes(item) for key, item in spec.items()}}
    if isinstance(spec, (list, tuple)):
        return {"sequence": [_describe_dynamic_shapes(item) for item in spec]}
    return _describe_dim(spec)


def _describe_dim(dim: Any) -> Any:
    if isinstance(dim, int):
        return {"static": dim}
    if dim is None:
        return None
    hint_type = getattr(dim, "type", None)
    if isinstance(dim, _DimHint) and hint_type is not None:
        return {"hint": hint_type.name}
    name = getattr(dim, "__name__", None)
    if name is not None and hasattr(dim, "min") and hasattr(dim, "max"):
        return {"dim": name, "min": int(dim.min), "max": _max_bound(dim.max)}
    raise PlanError(f"dynamic_shapes entry {dim!r} is not a Dim, an int, a hint or None")


def _max_bound(value: Any) -> int | None:
    # An unbounded Dim stores sympy's infinity (or a huge int), which JSON cannot hold.
    if not isinstance(value, int):
        return None
    return None if value >= 2**62 else value


def _build_dynamic_shapes(description: Any) -> Any:
    if description is None:
        return None
    if "dims" in description:
        return {int(key): _build_dim(item) for key, item in description["dims"].items()}
    if "mapping" in description:
        return {key: _build_dynamic_shapes(item) for key, item in description["mapping"].items()}
    if "sequence" in description:
        return tuple(_build_dynamic_shapes(item) for item in description["sequence"])
    return _build_dim(description)


def _build_dim(description: Any) -> Any:
    if description is None:
        return None
    if "static" in description:
        return description["static"]
    if "hint" in description:
        return getattr(torch.export.Dim, description["hint"])
    maximum = description["max"]
    kwargs = {"min": description["min"]} | ({} if maximum is None else {"max": maximum})
    return torch.export.Dim(description["dim"], **kwargs)
