"""`QuantizedLinear`: an nn.Linear replacement over a packed weight and a chosen kernel."""

from __future__ import annotations

import torch
from torch import nn

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.formats import PackedTensor
from quantplan.runtime.kernels import select_linear_kernel
from quantplan.runtime.real.packed_module import PackedWeightModule

__all__ = ["QuantizedLinear"]


class QuantizedLinear(PackedWeightModule):
    """Linear over a packed weight; the kernel is chosen when the module is first called.

    `apply_input` is False in graph mode, where the graph quantizes the input before this
    module. A w8a8 kernel still quantizes it again with the same qparams to get integer
    codes, which gives the same codes because fake quantization is idempotent.
    """

    def __init__(
        self,
        packed: PackedTensor,
        bias: torch.Tensor | None,
        spec: QuantizationSpec,
        *,
        plan_sha256: str,
        input_quantizer=None,
        output_quantizer=None,
        apply_input: bool = True,
    ):
        super().__init__(
            packed,
            spec,
            plan_sha256=plan_sha256,
            input_quantizer=input_quantizer,
            output_quantizer=output_quantizer,
        )
        self.out_features, self.in_features = packed.shape
        self.apply_input = apply_input
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)

    def select_kernel(self):
        quantizer = self.input_quantizer
        spec = None if quantizer is None else quantizer.spec
        frozen = (
            None
            if quantizer is None or quantizer.dynamic
            else quantizer.qparams(device=self.weight.device)
        )
        return select_linear_kernel(self.packed(), self.spec, spec, frozen, self.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch._C.DisableTorchFunction():
            kernel = self.kernel()
            if self.apply_input and not getattr(kernel, "handles_activation", False):
                x = self.quantize_input(x)
            return self.quantize_output(kernel(x, self.bias))

    def extra_repr(self) -> str:
        choice = self._kernel.choice.name if self._kernel is not None else "not chosen yet"
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype={self.layout['dtype']}, kernel={choice}"
