"""CUDA kernels: fp8 weights and fp8 activations through `torch._scaled_mm`.

`_scaled_mm` multiplies two fp8 operands with float32 scales, rowwise for the activation
([M, 1]) and per output channel for the weight ([1, N]). It runs only when the plan
quantizes the activation to float8_e4m3fn per tensor, because a weight-only fp8 plan keeps
float activations and quantizing them here would change the model's numbers.
NOTE: this path has not been run on a GPU in this repository's test suite; its tests skip
without CUDA.
"""

from __future__ import annotations

import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.formats import PackedTensor, unpack_qparams
from quantplan.runtime.kernels.choice import KernelChoice

__all__ = ["ScaledMMLinear"]


class ScaledMMLinear:
    """fp8 e4m3 weight [N, K] (per-channel axis 0) with fp8 e4m3 per-tensor activations."""

    handles_activation = True

    def __init__(
        self,
        packed: PackedTensor,
        activation_spec: QuantizationSpec,
        activation_qparams,
        device: torch.device,
    ):
        self.weight = packed.data.to(device).t()
        self.weight_scale = unpack_qparams(packed).scale.reshape(1, -1).to(device, torch.float32)
        self.activation_spec = activation_spec
        self.activation_qparams = activation_qparams
        self.choice = KernelChoice(name="aten._scaled_mm", native=True)

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        from quantplan.runtime.numerics import compute_qparams, quantize_codes

        rows = x.reshape(-1, x.shape[-1])
        block = tuple(rows.shape)
        qparams = self.activation_qparams or compute_qparams(
            rows, self.activation_spec, role="activation", block_shape=block
        )
        scale = qparams.scale.reshape(1, 1).to(torch.float32)
        codes = quantize_codes(
            rows, type(qparams)(scale=scale, zero_point=None), self.activation_spec, block
        )
        out = torch._scaled_mm(
            codes.to(torch.float8_e4m3fn),
            self.weight,
            scale_a=scale.expand(rows.shape[0], 1).contiguous(),
            scale_b=self.weight_scale,
            bias=None if bias is None else bias.to(torch.bfloat16),
            out_dtype=torch.bfloat16,
        )
        return out.reshape(*x.shape[:-1], out.shape[-1]).to(x.dtype)
