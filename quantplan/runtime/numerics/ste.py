"""Differentiable fake quantization with a straight-through estimator (STE).

The forward pass equals `dequantize_codes(quantize_codes(x))` bit for bit. The backward pass
passes the gradient through unchanged where the unsaturated code lies inside the clamp range
([qmin, qmax] for integers, [-fmax, fmax] for float formats) and zeroes it elsewhere. The
qparams get no gradient.
"""

from __future__ import annotations

import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.numerics.blocks import to_blocks
from quantplan.runtime.numerics.codes import BlockParams, fake_quantize_blocks, unclamped_codes
from quantplan.runtime.numerics.results import QParams

__all__ = ["fake_quantize_with_qparams"]


def fake_quantize_with_qparams(
    x: torch.Tensor, qparams: QParams, spec: QuantizationSpec, block_shape: tuple[int, ...]
) -> torch.Tensor:
    """Fake-quantize `x` with fixed qparams; differentiable with respect to `x` (STE)."""
    block = tuple(block_shape)
    if torch.is_grad_enabled() and x.requires_grad:
        return _StraightThrough.apply(x, qparams, spec, block)
    return fake_quantize_blocks(x, qparams, spec, block)


def _inside_range(
    x: torch.Tensor, qparams: QParams, spec: QuantizationSpec, block: tuple[int, ...]
) -> torch.Tensor:
    shape = tuple(x.shape)
    params = BlockParams.build(qparams, spec, shape, block)
    codes = unclamped_codes(to_blocks(x.detach().to(torch.float32), block), params, spec)
    inside = (codes >= spec.quant_min) & (codes <= spec.quant_max)
    return inside.reshape(shape)


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, qparams, spec, block):  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.qparams, ctx.spec, ctx.block = qparams, spec, block
        return fake_quantize_blocks(x, qparams, spec, block)

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        inside = _inside_range(x, ctx.qparams, ctx.spec, ctx.block)
        grad = grad_output * inside.to(grad_output.dtype)
        return grad, None, None, None
