"""The compiler: capture a model, resolve a config against it, and explain the result.

`compile_plan(model, example_inputs, config)` runs both stages; `resolve(graph, config)` is
the pure second stage on an already captured ModelGraph.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["compile_plan", "explain", "resolve"]

_EXPORTS = {
    "compile_plan": "quantplan.compiler.compile",
    "explain": "quantplan.compiler.explain",
    "resolve": "quantplan.compiler.resolve",
}


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import quantplan.compiler.graph` stays light.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quantplan.compiler' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
