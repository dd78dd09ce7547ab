"""`PackedWeightModule`: the base of every module that stores a planned weight packed.

State dict keys keep the float module's names: `weight` holds the packed codes (uint8, int8
or a float8 dtype), next to `weight_scale` and, for asymmetric specs, `weight_zero_point` or
`weight_minval`; other parameters (bias) stay float. The extra state records the plan sha256
and the weight layout, so loading a state dict made under another plan raises
PlanMismatchError. Activation quantizers are plain attributes, never submodules, because
their qparams belong to `qparams.safetensors`.
"""

from __future__ import annotations

import torch
from torch import nn

from quantplan.errors import PlanMismatchError
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.formats import PackedTensor

__all__ = ["PackedWeightModule"]

_PARAM_ROLES = {"scale": "weight_scale", "zero_point": "weight_zero_point", "minval": "weight_minval"}


class PackedWeightModule(nn.Module):
    """A module whose `weight` is packed; subclasses define `forward`.

    `input_quantizer` and `output_quantizer` (FakeQuantizer or None) are the op's activation
    sites that this module applies itself, because its op is hidden from the eager runtime.
    """

    def __init__(self, packed: PackedTensor, spec: QuantizationSpec, *, plan_sha256: str, input_quantizer=None, output_quantizer=None):
        super().__init__()
        self.spec = spec
        self.plan_sha256 = plan_sha256
        self.layout = packed.layout()
        self.register_buffer("weight", packed.data)
        for role, tensor in packed.tensors().items():
            if role != "data":
                self.register_buffer(_PARAM_ROLES[role], tensor)
        object.__setattr__(self, "input_quantizer", input_quantizer)
        object.__setattr__(self, "output_quantizer", output_quantizer)
        self._kernel = None

    def packed(self) -> PackedTensor:
        """Return the packed weight as a `PackedTensor` view of this module's buffers."""
        return PackedTensor(
            dtype=self.layout["dtype"],
            shape=tuple(self.layout["shape"]),
            block_shape=tuple(self.layout["block_shape"]),
            data=self.weight,
            scale=self.weight_scale,
            scale_encoding=self.layout["scale_encoding"],
            zero_point=getattr(self, "weight_zero_point", None),
            minval=getattr(self, "weight_minval", None),
            implied_zero_point=self.layout.get("implied_zero_point"),
        )

    def kernel(self):
        """Return the kernel object (with `.choice`), choosing it on first use."""
        if self._kernel is None:
            self._kernel = self.select_kernel()
        return self._kernel

    def select_kernel(self):
        from quantplan.runtime.kernels import DequantLinear

        qmin = 0 if self.spec.is_float else int(self.spec.quant_min)
        return DequantLinear(self.packed(), qmin, compute_dtype=torch.float32, name="dequantize+fp32 op")

    def dequantized_weight(self) -> torch.Tensor:
        """Return the float32 weight, equal to the fake-quantized one.

        With a dequantizing kernel the result is a reused buffer, shared by every weight of this
        shape, so use it before the next call. A native kernel stores its own weight layout, so
        the weight is dequantized from the packed storage into a new tensor instead.
        """
        kernel = self.kernel()
        if callable(getattr(kernel, "weight", None)):
            return kernel.weight(self.weight.device)
        from quantplan.runtime.formats import dequantize

        return dequantize(self.packed(), self.spec, torch.float32)

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.input_quantizer is None else self.input_quantizer(x)

    def quantize_output(self, out: torch.Tensor) -> torch.Tensor:
        return out if self.output_quantizer is None else self.output_quantizer(out)

    def get_extra_state(self) -> dict:
        return {"plan_sha256": self.plan_sha256, "layout": self.layout}

    def set_extra_state(self, state: dict) -> None:
        recorded = state.get("plan_sha256") if isinstance(state, dict) else None
        if recorded != self.plan_sha256:
            raise PlanMismatchError(
                [f"plan sha256 {recorded} in the state dict, {self.plan_sha256} in the model"],
                context="the state dict was made under another plan",
            )
        if state.get("layout") != self.layout:
            raise PlanMismatchError(
                [f"weight layout {state.get('layout')} in the state dict, {self.layout} in the model"],
                context="the state dict was made under another plan",
            )

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._kernel = None
