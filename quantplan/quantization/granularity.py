"""Granularities: how a tensor is split into blocks that each get one scale.

For a Linear weight of shape (C_out, C_in) = (64, 128):

- `PerTensorGranularity()` gives one scale, scale shape (1, 1);
- `PerChannelGranularity(axis=0)` gives one scale per output channel, scale shape (64, 1);
- `PerBlockGranularity(block_size=32, axis=1)` gives blocks (1, 32), scale shape (64, 4);
- `PerBlockGranularity(block_size=(1, -1))` gives one block per row, scale shape (64, 1).

An omitted axis stays None here; the compiler resolves it per op.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.arguments import argument_errors
from quantplan.quantization.fields import excerpt

__all__ = [
    "GRANULARITY_TYPES",
    "Granularity",
    "PerBlockGranularity",
    "PerChannelGranularity",
    "PerTensorGranularity",
    "granularity_from_value",
]


def _check_axis(instance, attribute, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(
            ErrorDetail(
                path="axis",
                message=f"axis must be an integer or null, got {excerpt(value)}.",
                value=value,
            )
        )


def _convert_block_size(value: object) -> int | tuple[int, ...]:
    if isinstance(value, list):
        return tuple(value)
    return value  # type: ignore[return-value]


def _check_block_size(instance, attribute, value) -> None:
    entries = value if isinstance(value, tuple) else (value,)
    valid = len(entries) > 0 and all(
        isinstance(entry, int) and not isinstance(entry, bool) and (entry > 0 or entry == -1)
        for entry in entries
    )
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
        valid = False
    if valid and isinstance(value, tuple) and instance.axis is not None:
        raise ConfigError(
            ErrorDetail(
                path="axis",
                message="a tuple block_size gives every dimension's extent, so axis must be null.",
                value=instance.axis,
            )
        )
    if not valid:
        raise ConfigError(
            ErrorDetail(
                path="block_size",
                message=(
                    f"block_size must be a positive integer, or a list with one positive "
                    f"entry (or -1 for the whole dimension) per dimension; got {excerpt(value)}."
                ),
                value=value,
            )
        )


@argument_errors
@attrs.frozen
class PerTensorGranularity:
    """One scale for the whole tensor."""

    type: ClassVar[str] = "per_tensor"


@argument_errors
@attrs.frozen
class PerChannelGranularity:
    """One scale per index along `axis`; None lets the compiler pick the op's default."""

    axis: int | None = attrs.field(
        default=None,
        validator=_check_axis,
        metadata={"description": "Channel axis; omit it to use the op's default weight axis."},
    )
    type: ClassVar[str] = "per_channel"


@argument_errors
@attrs.frozen
class PerBlockGranularity:
    """Blocks of `block_size` consecutive elements along `axis`.

    `block_size` may also be a tuple with one extent per dimension (-1 = whole dimension);
    then `axis` must be None.
    """

    block_size: int | tuple[int, ...] = attrs.field(
        converter=_convert_block_size,
        validator=_check_block_size,
        metadata={
            "description": (
                "Elements per block along axis, or a list with one extent per dimension "
                "(-1 = the whole dimension)."
            )
        },
    )
    axis: int | None = attrs.field(
        default=None,
        validator=_check_axis,
        metadata={"description": "Blocked axis; omit it to use the op's default weight axis."},
    )
    type: ClassVar[str] = "per_block"


Granularity = PerTensorGranularity | PerChannelGranularity | PerBlockGranularity

GRANULARITY_TYPES: dict[str, type] = {
    cls.type: cls for cls in (PerTensorGranularity, PerChannelGranularity, PerBlockGranularity)
}


def granularity_from_value(value: object) -> Granularity:
    """Build a granularity from an instance or a `{type: ..., ...}` mapping.

    Raises ConfigError with paths relative to the granularity (`type`, `axis`, ...).
    """
    if isinstance(value, tuple(GRANULARITY_TYPES.values())):
        return value  # type: ignore[return-value]
    if not isinstance(value, Mapping):
        raise ConfigError(_not_a_mapping(value))
    kind = value.get("type")
    if kind is None:
        raise ConfigError(
            ErrorDetail(
                path="type",
                message="granularity needs a 'type' key: per_tensor, per_channel or per_block.",
                expected=tuple(GRANULARITY_TYPES),
            )
        )
    cls = GRANULARITY_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError(_unknown_type(kind))
    fields = {key: item for key, item in value.items() if key != "type"}
    return _construct(cls, fields)


def _construct(cls: type, fields: dict) -> Granularity:
    allowed = [field.name for field in attrs.fields(cls)]
    unknown = [key for key in fields if key not in allowed]
    if unknown:
        raise ConfigError([_unknown_field(cls, key, allowed) for key in unknown])
    if cls is PerBlockGranularity and "block_size" not in fields:
        raise ConfigError(
            ErrorDetail(
                path="block_size",
                message="per_block granularity needs block_size, for example block_size: 32.",
            )
        )
    return cls(**fields)


def _not_a_mapping(value: object) -> ErrorDetail:
    hint = f"{{type: {value}}}" if isinstance(value, str) else "{type: per_tensor}"
    return ErrorDetail(
        path="",
        message=(
            f"granularity must be a mapping with a 'type' key, got {excerpt(value)}. Write {hint}."
        ),
        value=value,
    )


def _unknown_type(kind: object) -> ErrorDetail:
    import difflib

    names = tuple(GRANULARITY_TYPES)
    close = difflib.get_close_matches(str(kind), names, n=1, cutoff=0.5)
    return ErrorDetail(
        path="type",
        message=f"unknown granularity type {excerpt(kind)}. Use one of: {', '.join(names)}.",
        value=kind,
        expected=names,
        suggestion=close[0] if close else None,
    )


def _unknown_field(cls: type, key: object, allowed: list[str]) -> ErrorDetail:
    import difflib

    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    accepted = ", ".join(allowed) if allowed else "no other keys"
    return ErrorDetail(
        path=str(key),
        message=f"{cls.type} granularity does not take {excerpt(key)}; it accepts {accepted}.",
        value=key,
        expected=tuple(allowed),
        suggestion=close[0] if close else None,
    )
