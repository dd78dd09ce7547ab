"""Load `--model package.module:callable`, a callable that returns (model, example_inputs).

The current directory is put on sys.path first, so a model file next to the config works.
Every failure is a CommandError: exit code 2 for a malformed reference, 1 when importing
the module or calling the factory fails. Errors raised by user code, SystemExit included,
are reported with their type and message and never end the process.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Any

from quantplan.commands._errors import CommandError

__all__ = [
    "MODEL_REFERENCE_HELP",
    "call_reference",
    "check_reference",
    "is_model_reference",
    "load_model_reference",
]

MODEL_REFERENCE_HELP = (
    "model factory as package.module:callable; the callable takes no arguments and returns "
    "(model, example_inputs)"
)

_REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_RETURNS = "(model, example_inputs)"


def is_model_reference(text: str) -> bool:
    """Return True when `text` has the form package.module:callable."""
    return bool(_REFERENCE.match(text))


def check_reference(text: str, option: str = "--model") -> None:
    """Raise CommandError (exit code 2, a usage error) unless `text` is package.module:callable."""
    if not is_model_reference(text):
        raise CommandError(
            f"{option} {text!r} is invalid: expected package.module:callable", exit_code=2
        )


def load_model_reference(text: str) -> tuple[Any, Any]:
    """Import and call a model factory and check that it returned (nn.Module, example_inputs)."""
    return _unpack(text, call_reference(text, "--model", _RETURNS))


def call_reference(text: str, option: str = "--model", returns: str = _RETURNS) -> Any:
    """Import `package.module:callable`, call it without arguments and return its result.

    `returns` describes the expected result in error messages.
    """
    check_reference(text, option)
    target = _resolve(text, option, returns)
    try:
        return target()
    except (Exception, SystemExit) as error:
        raise CommandError(
            f"{option} {text!r}: calling {text} failed: {_describe(error)}"
        ) from None


def _resolve(text: str, option: str, returns: str) -> Any:
    module_name, _, attribute = text.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as error:
        raise CommandError(
            f"{option} {text!r}: importing module {module_name!r} failed: {_describe(error)}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise CommandError(
                f"{option} {text!r}: module {module_name!r} has no attribute {attribute!r}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise CommandError(
            f"{option} {text!r}: {attribute!r} is not callable; "
            f"it must be a function that returns {returns}"
        )
    required = _required_parameters(target)
    if required:
        raise CommandError(
            f"{option} {text!r}: {attribute!r} requires arguments ({', '.join(required)}); "
            f"it must take no arguments and return {returns}"
        )
    return target


def _required_parameters(target: Any) -> list[str]:
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind in kinds and parameter.default is inspect.Parameter.empty
    ]


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"it raised SystemExit({error.code!r}), as sys.exit() does"
    return f"{type(error).__name__}: {error}"


def _unpack(text: str, result: Any) -> tuple[Any, Any]:
    import torch

    if (
        not isinstance(result, tuple)
        or len(result) != 2
        or not isinstance(result[0], torch.nn.Module)
    ):
        raise CommandError(
            f"--model {text!r}: the callable must return {_RETURNS} with an "
            f"nn.Module first, got {_result_type(result)}"
        )
    return result


def _result_type(result: Any) -> str:
    if isinstance(result, tuple):
        return f"a tuple of ({', '.join(type(item).__name__ for item in result)})"
    return type(result).__name__
