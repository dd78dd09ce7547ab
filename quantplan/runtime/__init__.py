"""Apply a plan: fake quantization, observers, real formats, kernels and artifacts."""

from __future__ import annotations

import importlib
from typing import Any

# Public names and their defining modules, imported on first use so that the numerics do
# not pull in capture or kernels.
_EXPORTS = {
    "fake_quantize": "quantplan.runtime.numerics",
    "make_observer": "quantplan.runtime.numerics",
    "apply_plan": "quantplan.runtime.apply",
    "calibrate": "quantplan.runtime.calibrate",
    "save": "quantplan.runtime.artifact",
    "load": "quantplan.runtime.artifact",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quantplan.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
