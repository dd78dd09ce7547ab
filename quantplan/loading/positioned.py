"""Plain dicts that remember where each key and value was written in the YAML source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quantplan.errors import SourcePosition

__all__ = ["PositionedDict", "key_position", "value_position"]


class PositionedDict(dict):
    """A dict with the source position of each key and value (1-based line and column)."""

    def __init__(self, items: Any = (), *, position: SourcePosition | None = None):
        super().__init__(items)
        self.position = position
        self.key_positions: dict[Any, SourcePosition] = {}
        self.value_positions: dict[Any, SourcePosition] = {}


def key_position(mapping: Mapping, key: object) -> SourcePosition | None:
    """Return where `key` is written in `mapping`, or None for data without positions."""
    if isinstance(mapping, PositionedDict):
        return mapping.key_positions.get(key)
    return None


def value_position(mapping: Mapping, key: object) -> SourcePosition | None:
    """Return where the value of `key` is written (for an alias, where its anchor's value is)."""
    if isinstance(mapping, PositionedDict):
        return mapping.value_positions.get(key) or mapping.key_positions.get(key)
    return None
