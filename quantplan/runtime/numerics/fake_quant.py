"""One-shot qparams and fake quantization of a single tensor.

`fake_quantize(x, spec, role=...)` computes the qparams from `x` itself (as the static
calculator does) and fake-quantizes `x` with them. Example:

    >>> spec = QuantizationSpec(dtype="int8", granularity={"type": "per_channel", "axis": 0})
    >>> output, scale, zero_point = fake_quantize(torch.randn(110, 100), spec, role="weight")
    >>> scale.shape
    torch.Size([110, 1])
"""

from __future__ import annotations

import torch

from quantplan.errors import ErrorDetail, PlanError
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.numerics.blocks import check_block_shape, resolve_block_shape
from quantplan.runtime.numerics.measure import measure_range
from quantplan.runtime.numerics.ranges import apply_float_range
from quantplan.runtime.numerics.results import FakeQuantResult, QParams
from quantplan.runtime.numerics.roles import resolve_calculator
from quantplan.runtime.numerics.scales import qparams_from_range
from quantplan.runtime.numerics.ste import fake_quantize_with_qparams

__all__ = ["compute_qparams", "fake_quantize", "tensor_block_shape"]


def tensor_block_shape(
    x: torch.Tensor,
    spec: QuantizationSpec,
    role: str,
    block_shape: tuple[int, ...] | None,
    name: str | None,
) -> tuple[int, ...]:
    """Return `block_shape` checked against `x`, or the one resolved from the spec and role."""
    if x.numel() == 0:
        message = f"cannot compute a range of an empty tensor (shape {list(x.shape)})."
        raise PlanError(ErrorDetail(path=name or "<tensor>", message=message))
    if block_shape is None:
        return resolve_block_shape(x.shape, spec, role, name=name)
    block = tuple(int(extent) for extent in block_shape)
    check_block_shape(tuple(x.shape), block, name=name)
    return block


def compute_qparams(
    x: torch.Tensor,
    spec: QuantizationSpec,
    *,
    role: str,
    block_shape: tuple[int, ...] | None = None,
    name: str | None = None,
) -> QParams:
    """Compute the qparams of `x` alone, with the spec's range calculator (minmax or mse)."""
    resolve_calculator(spec, role, name)
    block = tensor_block_shape(x, spec, role, block_shape, name)
    measured = measure_range(x, spec, block, role=role, name=name)
    lo, hi = apply_float_range(measured.lo, measured.hi, spec.float_range)
    return qparams_from_range(lo, hi, spec)


def fake_quantize(
    x: torch.Tensor,
    spec: QuantizationSpec,
    *,
    role: str,
    block_shape: tuple[int, ...] | None = None,
    name: str | None = None,
) -> FakeQuantResult:
    """Compute the qparams of `x` and fake-quantize it; the output keeps x's dtype and shape.

    `name` labels errors (for example a parameter path). Differentiable through the
    straight-through estimator.
    """
    resolve_calculator(spec, role, name)
    block = tensor_block_shape(x, spec, role, block_shape, name)
    qparams = compute_qparams(x, spec, role=role, block_shape=block, name=name)
    return FakeQuantResult(fake_quantize_with_qparams(x, qparams, spec, block), qparams)
