"""Checking a whole config object again, for maps edited in place after construction.

Assigning a field runs its converter, but `config.module_name_configs["fc"] = value`
changes the dict without any check. This walk runs every field converter again,
on every nested module and op config, and collects the problems with their paths.
"""

from __future__ import annotations

from typing import Any

import attrs

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization._map_converters import path_key

__all__ = ["recheck_problems"]


def recheck_problems(config: Any, prefix: str = "") -> list[ErrorDetail]:
    """Return every problem in a config object and the configs nested in it, sorted by path."""
    problems: list[ErrorDetail] = []
    for field in attrs.fields(type(config)):
        if field.converter is None or not field.init:
            continue
        value = getattr(config, field.name)
        try:
            field.converter(value)
        except ConfigError as error:
            problems += [detail.with_prefix(prefix) for detail in error.errors]
            continue
        problems += _nested_problems(value, _join(prefix, field.name))
    return ConfigError(problems).errors if problems else []


def _nested_problems(value: object, path: str) -> list[ErrorDetail]:
    if attrs.has(type(value)) and _is_config(value):
        return recheck_problems(value, path)
    if not isinstance(value, dict):
        return []
    problems = []
    for key, item in value.items():
        if attrs.has(type(item)) and _is_config(item):
            problems += recheck_problems(item, path + path_key(key))
    return problems


def _is_config(value: object) -> bool:
    from quantplan.quantization.config import ModuleQuantizerConfig, OpQuantizerConfig

    return isinstance(value, ModuleQuantizerConfig | OpQuantizerConfig)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
