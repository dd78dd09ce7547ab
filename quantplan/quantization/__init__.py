"""The public config API, at the paths the config documentation uses."""

from __future__ import annotations

import importlib
from typing import Any

from quantplan.quantization.config import (
    ExecutionMode,
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QuantizerConfig,
)
from quantplan.quantization.spec import (
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
    QFormulation,
    QuantizationScheme,
    QuantizationSpec,
    default_activation_quantization_spec,
    default_weight_quantization_spec,
)

__all__ = [
    "ExecutionMode",
    "ModuleQuantizerConfig",
    "OpQuantizerConfig",
    "PerBlockGranularity",
    "PerChannelGranularity",
    "PerTensorGranularity",
    "QFormulation",
    "QuantizationScheme",
    "QuantizationSpec",
    "Quantizer",
    "QuantizerConfig",
    "default_activation_quantization_spec",
    "default_weight_quantization_spec",
]


def __getattr__(name: str) -> Any:
    # Quantizer pulls in the compiler and runtime, so it loads on first use.
    if name == "Quantizer":
        return importlib.import_module("quantplan.quantization.quantizer").Quantizer
    raise AttributeError(f"module 'quantplan.quantization' has no attribute {name!r}")
