"""Normalization of the keys that config maps accept.

- Index-keyed spec maps (`op_input_spec`, `op_output_spec`, `module_input_spec`,
  `module_output_spec`) take integers, digit strings (turned into integers) and `"*"`.
- `op_state_spec` takes parameter attribute names and `"*"`.
- Module type keys: a class, its fully qualified name, or an importable dotted alias.
  Loading never imports arbitrary code: a dotted name resolves only if its module is
  already imported or lies under `torch.`. A resolved name must be an nn.Module subclass,
  and a name under `torch.` must resolve. Anything else is kept as written and matched
  by the compiler against the classes found in the model.
- Name keys (`module_name_configs`, `op_name_config`) are regular expressions,
  full-matched by the compiler; they must compile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.fields import excerpt
from quantplan.quantization.type_keys import (
    lookup_dotted,
    not_a_module_detail,
    torch_typo_detail,
)

__all__ = [
    "INDEX_SPEC_FIELDS",
    "class_key",
    "normalize_index_key",
    "normalize_module_type_key",
    "normalize_name_key",
    "normalize_state_key",
    "resolve_module_class",
]

INDEX_SPEC_FIELDS = ("op_input_spec", "op_output_spec", "module_input_spec", "module_output_spec")


def normalize_index_key(key: object) -> int | str:
    """Return an integer index or `"*"`; raise ConfigError (empty path) for anything else."""
    if key == "*":
        return "*"
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit():
        return int(key)
    raise ConfigError(
        ErrorDetail(
            path="",
            message=(
                f"invalid key {excerpt(key)}: keys here are input/output positions (0, 1, ...) "
                'or "*" for all of them.'
            ),
            value=key,
            expected=("<non-negative integer>", "*"),
        )
    )


def normalize_state_key(key: object) -> str:
    """Return a parameter attribute name such as `weight`, or `"*"`."""
    if isinstance(key, str) and key and (key == "*" or key.isidentifier()):
        return key
    raise ConfigError(
        ErrorDetail(
            path="",
            message=(
                f"invalid op_state_spec key {excerpt(key)}: use a parameter attribute name such as "
                '"weight" or "bias", or "*" for every floating-point parameter.'
            ),
            value=key,
        )
    )


def normalize_name_key(key: object) -> str:
    """Check that a name key is a string holding a valid regular expression."""
    if not isinstance(key, str):
        raise ConfigError(
            ErrorDetail(
                path="",
                message=(
                    f"name keys are strings (regular expressions), "
                    f"got {type(key).__name__} {excerpt(key)}; quote it."
                ),
                value=key,
            )
        )
    try:
        re.compile(key)
    except re.error as error:
        raise ConfigError(
            ErrorDetail(
                path="",
                message=(
                    f"invalid regular expression {excerpt(key)}: "
                    f"{error}. Name keys are full-matched "
                    "regular expressions; escape literal dots and brackets with a backslash."
                ),
                value=key,
            )
        ) from None
    return key


def class_key(cls: type) -> str:
    """Return the fully qualified name of a class, such as `torch.nn.modules.linear.Linear`."""
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_module_class(name: str) -> type | None:
    """Resolve a dotted name to an nn.Module subclass without importing arbitrary code."""
    import torch.nn as nn

    target = lookup_dotted(name).target
    if isinstance(target, type) and issubclass(target, nn.Module):
        return target
    return None


def normalize_module_type_key(key: object) -> str:
    """Return the fully qualified class name when it can be resolved, else the key as written."""
    import torch.nn as nn

    if isinstance(key, type):
        if issubclass(key, nn.Module):
            return class_key(key)
        raise ConfigError(_bad_type_key(key))
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(_bad_type_key(key))
    if "." not in key:
        return key
    lookup = lookup_dotted(key)
    if lookup.target is not None:
        if isinstance(lookup.target, type) and issubclass(lookup.target, nn.Module):
            return class_key(lookup.target)
        raise ConfigError(not_a_module_detail(key, lookup.target))
    if lookup.under_torch:
        raise ConfigError(torch_typo_detail(key, lookup))
    return key


def _bad_type_key(key: object) -> ErrorDetail:
    return ErrorDetail(
        path="",
        message=(
            f"invalid module type key {excerpt(key)}: use "
            "an nn.Module subclass or its name, such as "
            "torch.nn.modules.linear.Linear or Linear."
        ),
        value=key,
    )


def check_mapping(value: object, what: str) -> Mapping:
    """Raise ConfigError unless `value` is a mapping."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            ErrorDetail(
                path="",
                message=f"{what} must be a mapping, got {type(value).__name__} {excerpt(value)}.",
                value=value,
            )
        )
    return value
