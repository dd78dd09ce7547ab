"""Splitting `only_for` / `without` targets into module types and module names."""

from __future__ import annotations

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.fields import excerpt
from quantplan.quantization.keys import (
    normalize_module_type_key,
    normalize_name_key,
    resolve_module_class,
)

__all__ = ["split_targets"]


def split_targets(targets: tuple[object, ...]) -> tuple[list[str], list[str]]:
    """Return (type keys, name keys).

    A class, or a string that resolves to an nn.Module class (such as `torch.nn.Linear`),
    is a module type; any other string is a module-name regular expression.
    """

    types: list[str] = []
    names: list[str] = []
    problems: list[ErrorDetail] = []
    for index, target in enumerate(targets):
        try:
            if _is_module_type(target):
                types.append(normalize_module_type_key(target))
            elif isinstance(target, str):
                names.append(normalize_name_key(target))
            else:
                raise ConfigError(
                    ErrorDetail(
                        path="",
                        message=(
                            f"invalid target {excerpt(target)}: use "
                            "an nn.Module class or a module name."
                        ),
                        value=target,
                    )
                )
        except ConfigError as error:
            problems += [detail.with_prefix(f"targets[{index}]") for detail in error.errors]
    if problems:
        raise ConfigError(problems)
    return types, names


def _is_module_type(target: object) -> bool:
    import torch.nn as nn

    if isinstance(target, type) and issubclass(target, nn.Module):
        return True
    return isinstance(target, str) and "." in target and resolve_module_class(target) is not None
