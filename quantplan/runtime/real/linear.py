"""`QuantizedLinear`: an nn.Linear replacement that stores its weight packed.

State dict keys keep the Linear's names: `weight` holds the packed codes (uint8, int8 or a
float8 dtype), next to `weight_scale` and `weight_zero_point` or `weight_minval`, and `bias`
stays a float parameter. Frozen activation qparams are buffers named `input_scale`,
`input_zero_point`, `output_scale` and so on. The extra state records the plan sha256 and
the weight layout, so loading a state dict made under another plan raises PlanMismatchError.
"""

from __future__ import annotations

import torch
from torch import nn

from quantplan.errors import PlanMismatchError
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.formats import PackedTensor
from quantplan.runtime.kernels import select_linear_kernel

__all__ = ["QuantizedLinear"]

_PARAM_ROLES = {"scale": "weight_scale", "zero_point": "weight_zero_point", "minval": "weight_minval"}


class QuantizedLinear(nn.Module):
    """Linear over a packed weight; the kernel is chosen when the module is first called."""

    def __init__(self, packed: PackedTensor, bias: torch.Tensor | None, spec: QuantizationSpec, *, plan_sha256: str,
                 activation_spec: QuantizationSpec | None = None, output_spec: QuantizationSpec | None = None):
        super().__init__()
        self.out_features, self.in_features = packed.shape
        self.spec = spec
        self.activation_spec = activation_spec
        self.output_spec = output_spec
        self.plan_sha256 = plan_sha256
        self.layout = packed.layout()
        self.register_buffer("weight", packed.data)
        for role, tensor in packed.tensors().items():
            if role != "data":
                self.register_buffer(_PARAM_ROLES[role], tensor)
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
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
        )

    def frozen_qparams(self, group: str):
        """Return the frozen QParams of `input` or `output`, or None when dynamic or absent."""
        from quantplan.runtime.numerics import QParams

        scale = getattr(self, f"{group}_scale", None)
        if scale is None:
            return None
        return QParams(scale=scale, zero_point=getattr(self, f"{group}_zero_point", None), minval=getattr(self, f"{group}_minval", None))

    def kernel(self):
        """Return the kernel for the current buffers, choosing it on first use."""
        if self._kernel is None:
            self._kernel = select_linear_kernel(
                self.packed(), self.spec, self.activation_spec, self.frozen_qparams("input"), self.weight.device
            )
        return self._kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel()
        if self.activation_spec is not None and not getattr(kernel, "handles_activation", False):
            x = _fake_quantize(x, self.activation_spec, self.frozen_qparams("input"))
        out = kernel(x, self.bias)
        if self.output_spec is not None:
            out = _fake_quantize(out, self.output_spec, self.frozen_qparams("output"))
        return out

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

    def extra_repr(self) -> str:
        choice = self._kernel.choice.name if self._kernel is not None else "not chosen yet"
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype={self.layout['dtype']}, kernel={choice}"


def _fake_quantize(x: torch.Tensor, spec: QuantizationSpec, qparams) -> torch.Tensor:
    from quantplan.runtime.numerics import compute_qparams, fake_quantize_with_qparams, resolve_block_shape

    block = resolve_block_shape(x.shape, spec, "activation") if qparams is None else _block_for(x, qparams)
    if qparams is None:
        qparams = compute_qparams(x, spec, role="activation", block_shape=block)
    return fake_quantize_with_qparams(x, qparams, spec, block)


def _block_for(x: torch.Tensor, qparams) -> tuple[int, ...]:
    """Return the block shape that the frozen scale's grid implies for `x` (same rank)."""
    grid = tuple(qparams.scale.shape)
    if len(grid) != x.dim():
        grid = (1,) * (x.dim() - len(grid)) + grid
    return tuple(size // count for size, count in zip(x.shape, grid, strict=True))
