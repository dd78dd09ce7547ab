"""TensorInfo records from real, fake and meta tensors, and pytree flattening of outputs."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils import _pytree as pytree

from quantplan.compiler.capture.signature import dtype_name
from quantplan.compiler.graph import TensorInfo

__all__ = ["flat_tensors", "is_float_tensor", "tensor_info"]


def tensor_info(tensor: torch.Tensor) -> TensorInfo:
    """Describe a tensor; a symbolic dimension becomes its symbol's name, such as `s0`."""
    shape = tuple(size if isinstance(size, int) else str(size) for size in tensor.shape)
    return TensorInfo(shape=shape, dtype=dtype_name(tensor.dtype))


def is_float_tensor(value: Any) -> bool:
    """Return True for a floating-point tensor (an activation candidate)."""
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def flat_tensors(value: Any) -> list[torch.Tensor]:
    """Return the tensors of a nested output (tuples, lists, dicts, HF ModelOutput) in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if hasattr(value, "to_tuple") and callable(value.to_tuple):
        value = value.to_tuple()
    leaves = pytree.tree_leaves(value)
    return [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
