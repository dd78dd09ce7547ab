"""int8 weights with int8 activations: exact integer matmuls on CPU.

The activation is quantized with the numerics (true division, round half to even), either
with frozen (calibrated) qparams or with qparams computed from each input (dynamic). The
integer accumulation is then exact, and only the final rescale `s_x * s_w * acc + bias`
rounds in float32, so outputs match the fake-quant linear to about 1e-6 relative L2 error.

- `onednn::qlinear_pointwise` takes the codes as uint8 with a zero point, so int8 codes c
  with zero point z run as c + 128 with zero point z + 128. It needs one activation scale
  (per-tensor) and a symmetric per-output-channel weight.
- `torch._int_mm` serves per-row activation scales (symmetric int8), with the rescale done
  afterwards.

`quantized::linear_dynamic` (reduce_range=False) is faster still but no plan spec makes it
exact, so it is not used. The closest spec is uint8 asymmetric per-tensor with dynamic
qparams: torch picks the same zero point, but computes the scale (max - min) / 255 in double
before rounding it to float32, and quantizes by multiplying with the reciprocal scale instead
of dividing. Measured on torch 2.13 CPU (int8 per-channel weight 512 x 1024, 20 inputs of
16 rows): scales differ in the last float32 bit, 1 activation code in 327,680 differs, and
the output is off the fake-quant linear by up to 2.4e-4 relative L2 error (onednn: ~1e-6).
"""

from __future__ import annotations

import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.formats import PackedTensor, unpack_codes, unpack_qparams
from quantplan.runtime.kernels.choice import KernelChoice

__all__ = ["W8A8Linear"]


class W8A8Linear:
    """Linear with int8 per-channel symmetric weight [N, K] and int8/uint8 activations.

    `activation_qparams` is the frozen QParams of input 0, or None for dynamic activations.
    """

    handles_activation = True

    def __init__(
        self,
        packed: PackedTensor,
        weight_shift: int,
        activation_spec: QuantizationSpec,
        activation_qparams,
        *,
        per_tensor: bool,
    ):
        codes = (unpack_codes(packed) - weight_shift).to(torch.int8).contiguous()
        self.weight_scale = unpack_qparams(packed).scale.reshape(-1).to(torch.float32).contiguous()
        self.activation_spec = activation_spec
        self.activation_qparams = activation_qparams
        self.per_tensor = per_tensor
        self.activation_shift = 128 if activation_spec.element.signed else 0
        if per_tensor:
            self.weight = torch.ops.onednn.qlinear_prepack(codes, None)
            self.weight_zero = torch.zeros(codes.shape[0], dtype=torch.int64)
            name = "onednn.qlinear_pointwise"
        else:
            self.weight = codes.t()
            name = "aten._int_mm"
        dynamic = "dynamic" if activation_qparams is None else "static"
        self.choice = KernelChoice(name=f"{name} ({dynamic} activations)", native=True)

    def _activation(self, x: torch.Tensor):
        from quantplan.runtime.numerics import compute_qparams, quantize_codes

        block = (1, x.shape[1]) if not self.per_tensor else tuple(x.shape)
        qparams = self.activation_qparams
        if qparams is None:
            qparams = compute_qparams(x, self.activation_spec, role="activation", block_shape=block)
        elif self.per_tensor:
            qparams = _broadcast_scalar(qparams, block)
        return quantize_codes(x, qparams, self.activation_spec, block), qparams

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        codes, qparams = self._activation(rows)
        if self.per_tensor:
            out = self._onednn(codes, qparams, bias)
        else:
            out = torch._int_mm(codes.to(torch.int8), self.weight).to(torch.float32)
            out = out.mul_(qparams.scale.reshape(-1, 1)).mul_(self.weight_scale)
            if bias is not None:
                out = out.add_(bias.to(torch.float32))
        return out.reshape(*x.shape[:-1], out.shape[-1]).to(x.dtype)

    def _onednn(self, codes: torch.Tensor, qparams, bias: torch.Tensor | None) -> torch.Tensor:
        unsigned = (codes + self.activation_shift).to(torch.uint8)
        scale = float(qparams.scale.reshape(-1)[0])
        zero = int(qparams.zero_point.reshape(-1)[0]) + self.activation_shift
        bias = None if bias is None else bias.to(torch.float32)
        return torch.ops.onednn.qlinear_pointwise(
            unsigned,
            scale,
            zero,
            self.weight,
            self.weight_scale,
            self.weight_zero,
            bias,
            1.0,
            0,
            torch.float32,
            "none",
            [],
            "",
        )


def _broadcast_scalar(qparams, block: tuple[int, ...]):
    """Reshape frozen per-tensor qparams (any shape of one element) to the 2-D block grid."""
    from quantplan.runtime.numerics import QParams

    def grid(tensor):
        return None if tensor is None else tensor.reshape(1, 1)

    return QParams(
        scale=grid(qparams.scale), zero_point=grid(qparams.zero_point), minval=grid(qparams.minval)
    )
