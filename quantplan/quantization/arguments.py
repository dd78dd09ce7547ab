"""ConfigError, not TypeError, for a config constructor called with the wrong arguments."""

from __future__ import annotations

import functools
import inspect
from typing import Any, TypeVar

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.fields import unknown_key_detail

__all__ = ["argument_errors"]

_Class = TypeVar("_Class", bound=type)
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def argument_errors(cls: _Class) -> _Class:
    """Make `cls(...)` raise ConfigError naming each missing, unknown or extra argument."""
    init = cls.__init__
    parameters = list(inspect.signature(init).parameters.values())[1:]

    @functools.wraps(init)
    def checked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        problems = _argument_problems(cls.__name__, parameters, args, kwargs)
        if problems:
            raise ConfigError(problems)
        init(self, *args, **kwargs)

    cls.__init__ = checked_init  # type: ignore[misc]
    return cls


def _argument_problems(
    name: str, parameters: list[inspect.Parameter], args: tuple, kwargs: dict
) -> list[ErrorDetail]:
    positional = [p.name for p in parameters if p.kind in _POSITIONAL]
    named = {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD}
    takes_any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    problems = []
    if len(args) > len(positional):
        message = (
            f"{name} takes at most {len(positional)} positional arguments, got {len(args)}; "
            "pass the fields by keyword."
        )
        problems.append(ErrorDetail(path="", message=message))
    given = set(positional[: len(args)])
    for key in kwargs:
        if key in given:
            message = f"{name} got {key} both by position and by keyword; pass it once."
            problems.append(ErrorDetail(path=key, message=message))
        elif key not in named and not takes_any_keyword:
            problems.append(unknown_key_detail(key, sorted(named), name, key))
    for parameter in parameters:
        missing = parameter.name not in given and parameter.name not in kwargs
        if (
            parameter.default is inspect.Parameter.empty
            and missing
            and parameter.kind
            in (
                *_POSITIONAL,
                inspect.Parameter.KEYWORD_ONLY,
            )
        ):
            message = f"{name} needs the argument {parameter.name}, such as {parameter.name}=32."
            if parameter.name != "block_size":
                message = f"{name} needs the argument {parameter.name}."
            problems.append(ErrorDetail(path=parameter.name, message=message))
    return problems
