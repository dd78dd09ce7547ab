"""quantplan: a declarative quantization compiler for PyTorch with a plan/apply split.

config (YAML, dict or Python) -> `compile_plan` -> reviewable JSON `Plan` -> `apply_plan`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names and the module that defines each; imported on first use so that
# `import quantplan` stays cheap for the config front end and the CLI.
_EXPORTS = {
    "ConfigError": "quantplan.errors",
    "PlanError": "quantplan.errors",
    "PlanMismatchError": "quantplan.errors",
    "UnsupportedError": "quantplan.errors",
    "QuantizationSpec": "quantplan.quantization.spec",
    "QuantizerConfig": "quantplan.quantization.config",
    "ModuleQuantizerConfig": "quantplan.quantization.config",
    "OpQuantizerConfig": "quantplan.quantization.config",
    "Quantizer": "quantplan.quantization.quantizer",
    "Plan": "quantplan.plan.model",
    "compile_plan": "quantplan.compiler.compile",
    "apply_plan": "quantplan.runtime.apply",
    "calibrate": "quantplan.runtime.calibrate",
    "save": "quantplan.runtime.artifact",
    "load": "quantplan.runtime.artifact",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quantplan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
