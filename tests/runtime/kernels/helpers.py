"""Shared builders for kernel tests: pack a weight and compute the fake-quant reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.formats import pack
from quantplan.runtime.numerics import compute_qparams, fake_quantize, resolve_block_shape


def packed_weight(weight: torch.Tensor, spec: QuantizationSpec):
    block = resolve_block_shape(weight.shape, spec, "weight")
    qparams = compute_qparams(weight, spec, role="weight", block_shape=block)
    return pack(weight, qparams, spec, block), fake_quantize(
        weight, spec, role="weight", block_shape=block
    ).output


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual.float() - expected.float()).norm() / expected.float().norm())


def reference_linear(x, fq_weight, bias, activation_spec=None, activation_qparams=None):
    if activation_spec is not None:
        from quantplan.runtime.numerics import fake_quantize_with_qparams

        rows = x.reshape(-1, x.shape[-1])
        block = tuple(rows.shape)
        if activation_qparams is None:
            activation_qparams = compute_qparams(
                rows, activation_spec, role="activation", block_shape=block
            )
        x = fake_quantize_with_qparams(rows, activation_qparams, activation_spec, block).reshape(
            x.shape
        )
    return F.linear(x, fq_weight, bias)
