"""Preset recipes: `QuantizerConfig.presets.w4()`, `ModuleQuantizerConfig.presets.w8()`, ...

Every preset returns a fresh, ordinary config with all three tensor groups written out,
so no field counts as defaulted and every setter works on the result. What each expands to
(weights / activations at op inputs and outputs):

| preset | weights (`op_state_spec["weight"]`) | activations (`"*"`) |
|---|---|---|
| `w8()` | int8 symmetric per-channel | float |
| `w4()` | int4 symmetric per-block, block 32 | float |
| `w4_per_block(block_size)` | int4 symmetric per-block, `block_size` | float |
| `w8a8()` | int8 symmetric per-channel | int8 symmetric per-tensor |
| `w4a8()` | int4 symmetric per-block, block 32 | int8 symmetric per-tensor |
| `fp8()` | float8_e4m3fn per-tensor | float8_e4m3fn per-tensor |
| `mxfp4()` | float4_e2m1fn_x2 per-block 32, float8_e8m0fnu scales | float8_e4m3fn per-tensor |

The weight axes stay None, so the compiler picks each op's default axis.
"""

from __future__ import annotations

from typing import Any

import torch

from quantplan.quantization.config import ModuleQuantizerConfig, QuantizerConfig
from quantplan.quantization.granularity import PerBlockGranularity, PerTensorGranularity
from quantplan.quantization.spec import (
    QuantizationSpec,
    default_activation_quantization_spec,
    default_weight_quantization_spec,
)

__all__ = ["ModulePresets", "QuantizerPresets", "presets_for"]


def _int4_weight(block_size: int) -> QuantizationSpec:
    return QuantizationSpec(
        dtype=torch.int4, granularity=PerBlockGranularity(block_size=block_size)
    )


def _fp8_spec() -> QuantizationSpec:
    return QuantizationSpec(dtype=torch.float8_e4m3fn, granularity=PerTensorGranularity())


def _module(weight: QuantizationSpec, activation: QuantizationSpec | None) -> ModuleQuantizerConfig:
    activations = None if activation is None else {"*": activation}
    return ModuleQuantizerConfig(
        op_input_spec=activations,
        op_output_spec=None if activations is None else dict(activations),
        op_state_spec={"weight": weight},
    )


class ModulePresets:
    """Preset recipes that return a `ModuleQuantizerConfig`."""

    def w8(self) -> ModuleQuantizerConfig:
        """Weight-only int8, symmetric, per-channel."""
        return _module(default_weight_quantization_spec(), None)

    def w4(self) -> ModuleQuantizerConfig:
        """Weight-only int4, symmetric, per-block with block size 32."""
        return self.w4_per_block(block_size=32)

    def w4_per_block(self, block_size: int = 32) -> ModuleQuantizerConfig:
        """Weight-only int4, symmetric, per-block with `block_size` elements per block."""
        return _module(_int4_weight(block_size), None)

    def w8a8(self) -> ModuleQuantizerConfig:
        """int8 per-channel weights and int8 per-tensor activations (the documented defaults)."""
        return _module(default_weight_quantization_spec(), default_activation_quantization_spec())

    def w4a8(self) -> ModuleQuantizerConfig:
        """int4 per-block (block 32) weights and int8 per-tensor activations."""
        return _module(_int4_weight(32), default_activation_quantization_spec())

    def fp8(self) -> ModuleQuantizerConfig:
        """float8_e4m3fn per-tensor weights and activations."""
        return _module(_fp8_spec(), _fp8_spec())

    def mxfp4(self) -> ModuleQuantizerConfig:
        """MXFP4 weights (float4_e2m1fn_x2, blocks of 32, e8m0 scales) and fp8 activations."""
        weight = QuantizationSpec(
            dtype=torch.float4_e2m1fn_x2,
            granularity=PerBlockGranularity(block_size=32),
            scale_dtype=torch.float8_e8m0fnu,
        )
        return _module(weight, QuantizationSpec(dtype=torch.float8_e4m3fn))


class QuantizerPresets:
    """The same recipes, each applied as the `global_config` of a new `QuantizerConfig`."""

    def __init__(self) -> None:
        self._modules = ModulePresets()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        recipe = getattr(self._modules, name)

        def build(*args: Any, **kwargs: Any) -> QuantizerConfig:
            return QuantizerConfig(global_config=recipe(*args, **kwargs))

        build.__name__ = name
        build.__doc__ = recipe.__doc__
        return build

    def __dir__(self) -> list[str]:
        return [name for name in dir(ModulePresets) if not name.startswith("_")]


_MODULE_PRESETS = ModulePresets()
_QUANTIZER_PRESETS = QuantizerPresets()


def presets_for(owner: type) -> ModulePresets | QuantizerPresets:
    """Return the preset namespace for `QuantizerConfig` or `ModuleQuantizerConfig`."""
    if issubclass(owner, QuantizerConfig):
        return _QUANTIZER_PRESETS
    if issubclass(owner, ModuleQuantizerConfig):
        return _MODULE_PRESETS
    raise AttributeError(
        f"{owner.__name__} has no presets; use QuantizerConfig or ModuleQuantizerConfig."
    )
