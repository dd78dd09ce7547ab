"""Load `--model package.module:callable`, a callable that returns (model, example_inputs).

The current directory is put on sys.path first, so a model file next to the config works.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

from quantplan.errors import PlanError

__all__ = ["MODEL_REFERENCE_HELP", "is_model_reference", "load_model_reference"]

MODEL_REFERENCE_HELP = (
    "model factory as package.module:callable; the callable takes no arguments and returns "
    "(model, example_inputs)"
)

_REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_model_reference(text: str) -> bool:
    """Return True when `text` has the form package.module:callable."""
    return bool(_REFERENCE.match(text))


def load_model_reference(text: str) -> tuple[Any, Any]:
    """Import and call a model factory; raise PlanError naming the reference on any failure."""
    if not is_model_reference(text):
        raise PlanError(
            f"--model {text!r} is invalid: expected package.module:callable, "
            "for example fixtures.models:make_tiny_net"
        )
    module_name, _, attribute = text.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise PlanError(f"--model {text!r}: cannot import module {module_name!r}: {error}") from error
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise PlanError(f"--model {text!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise PlanError(f"--model {text!r}: {attribute!r} is not callable")
    return _unpack(text, target())


def _unpack(text: str, result: Any) -> tuple[Any, Any]:
    import torch

    if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[0], torch.nn.Module):
        raise PlanError(
            f"--model {text!r}: the callable must return (model, example_inputs) with an "
            f"nn.Module first, got {type(result).__name__}"
        )
    return result
