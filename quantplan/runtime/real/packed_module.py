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

__all__ = ["PackedWeightModule", "check_state_dict_plan"]

_STATE_DICT_CONTEXT = "the state dict was made under another plan, so it comes from a different save than this model's plan"
_STATE_DICT_ADVICE = (
    "load the state dict saved with this plan, or apply the plan that the state dict was saved with"
)
_PARAM_ROLES = {
    "scale": "weight_scale",
    "zero_point": "weight_zero_point",
    "minval": "weight_minval",
}


class PackedWeightModule(nn.Module):
    """A module whose `weight` is packed; subclasses define `forward`.

    `input_quantizer` and `output_quantizer` (FakeQuantizer or None) are the op's activation
    sites that this module applies itself, because its op is hidden from the eager runtime.
    """

    def __init__(
        self,
        packed: PackedTensor,
        spec: QuantizationSpec,
        *,
        plan_sha256: str,
        input_quantizer=None,
        output_quantizer=None,
    ):
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
        return DequantLinear(
            self.packed(), qmin, compute_dtype=torch.float32, name="dequantize+fp32 op"
        )

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
        self._check_extra_state(state, "weight")

    def _check_extra_state(self, state: dict, weight_key: str) -> None:
        recorded = state.get("plan_sha256") if isinstance(state, dict) else None
        if recorded == self.plan_sha256 and state.get("layout") == self.layout:
            return
        changes = []
        if isinstance(state, dict) and state.get("layout") != self.layout:
            changes.append(
                f"tensor {weight_key}: layout {state.get('layout')} in the state dict, {self.layout} in the model"
            )
        changes.append(f"plan sha256 {recorded} in the state dict, {self.plan_sha256} in the model")
        raise PlanMismatchError(changes, context=_STATE_DICT_CONTEXT, advice=_STATE_DICT_ADVICE)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checked here rather than in set_extra_state so that the message names the weight's full key.
        extra = state_dict.get(prefix + "_extra_state")
        if extra is not None:
            self._check_extra_state(extra, prefix + "weight")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._kernel = None


def check_state_dict_plan(root: nn.Module, state_dict, prefix: str, *args) -> None:
    """Raise PlanMismatchError listing every packed weight that differs in `state_dict`.

    A `load_state_dict` pre-hook on the root of a real-quantized model. It runs before any
    module loads, so the message names the first differing weight of the whole model rather
    than the first packed module, whose layout may match even though the plans differ.
    """
    packed = {
        (f"{path}." if path else ""): module
        for path, module in root.named_modules(prefix=prefix.rstrip("."))
        if isinstance(module, PackedWeightModule)
    }
    stored = {
        key[: -len("_extra_state")]: extra
        for key, extra in state_dict.items()
        if key.endswith("_extra_state")
        and isinstance(extra, dict)
        and "plan_sha256" in extra
        and "layout" in extra
    }
    changes = []
    hashes = set()
    for key in [*packed, *(key for key in stored if key not in packed)]:
        module, extra = packed.get(key), stored.get(key)
        if module is None:
            changes.append(
                f"tensor {key}weight: quantized as {extra['layout']['dtype']} in the state dict, float in the model"
            )
            continue
        if extra is None:
            changes.append(
                f"tensor {key}weight: float in the state dict, quantized as {module.layout['dtype']} in the model"
            )
            continue
        if extra["layout"] != module.layout:
            changes.append(
                f"tensor {key}weight: layout {extra['layout']} in the state dict, {module.layout} in the model"
            )
        if extra["plan_sha256"] != module.plan_sha256:
            hashes.add((extra["plan_sha256"], module.plan_sha256))
    if hashes:
        changes += [
            f"plan sha256 {recorded} in the state dict, {current} in the model"
            for recorded, current in sorted(hashes)
        ]
        raise PlanMismatchError(changes, context=_STATE_DICT_CONTEXT, advice=_STATE_DICT_ADVICE)
