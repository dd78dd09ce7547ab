"""The walk shared by the structuring hooks: the current path, source positions and problems.

`StructuringWalk` records each problem with its path and source position, and a level with a
problem yields `INVALID`, so its parent still walks its other children.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs

from quantplan.errors import ConfigError, ErrorDetail, SourcePosition
from quantplan.loading.paths import join_attribute, join_key
from quantplan.loading.source import key_position, value_position
from quantplan.quantization.config import ModuleQuantizerConfig, QuantizerConfig
from quantplan.quantization.fields import excerpt, unknown_key_detail, user_fields
from quantplan.quantization.spec import QuantizationSpec

INVALID: Any = attrs.make_class("_Invalid", [], repr=False)()

# Where each field name belongs, so that a misplaced key says where to move it.
_OWNERS = (
    ("quantization_config", QuantizerConfig),
    ("a module config", ModuleQuantizerConfig),
    ("a spec", QuantizationSpec),
)


@attrs.define
class Frame:
    """One level of the walk: its config path, source position and whether it is global_config."""

    path: str
    position: SourcePosition | None
    global_scope: bool = False


class StructuringWalk:
    """The problems found so far and the stack of paths being structured."""

    def __init__(self) -> None:
        self.problems: list[ErrorDetail] = []
        self._frames = [Frame("", None)]

    @contextmanager
    def _frame(self, frame: Frame) -> Iterator[None]:
        self._frames.append(frame)
        try:
            yield
        finally:
            self._frames.pop()

    @property
    def _here(self) -> Frame:
        return self._frames[-1]

    def report(
        self, path: str, message: str, position: SourcePosition | None, **extra: Any
    ) -> None:
        """Record one problem."""
        self.problems.append(ErrorDetail(path=path, message=message, position=position, **extra))

    def _report_error(self, error: ConfigError, data: Any) -> None:
        here = self._here
        for detail in error.errors:
            position = _locate(data, detail.path) or here.position
            self.problems.append(detail.with_prefix(here.path).with_position(position))

    # -- mappings and keys ---------------------------------------------------------------

    def _mapping(self, data: Any, what: str, example: str) -> Mapping | None:
        if isinstance(data, Mapping):
            return data
        here = self._here
        self.report(
            here.path,
            f"{what} must be a mapping, got {_describe(data)}. Write {example}.",
            here.position,
            value=data,
        )
        return None

    def _unknown_keys(
        self, data: Mapping, allowed: tuple[str, ...], where: str, ignored: tuple = ()
    ) -> list:
        unknown = [key for key in data if key not in allowed and key not in ignored]
        for key in unknown:
            path = join_attribute(self._here.path, str(key))
            detail = unknown_key_detail(key, allowed, where, path)
            hint = _owner_hint(key, where)
            if hint:
                detail = attrs.evolve(detail, message=f"{detail.message} {hint}")
            self.problems.append(detail.with_position(key_position(data, key)))
        return unknown

    def _entries(
        self, mapping: Mapping, normalize: Callable, index_keys: bool
    ) -> tuple[dict, bool]:
        """Normalize every key; return ({key: (raw key, value)} for the good keys, all good)."""
        entries: dict = {}
        valid = True
        for raw_key, value in mapping.items():
            path = join_key(self._here.path, raw_key)
            position = key_position(mapping, raw_key)
            try:
                key = normalize(raw_key)
            except ConfigError as error:
                valid = False
                for detail in error.errors:
                    self.problems.append(detail.with_prefix(path).with_position(position))
                continue
            if key in entries:
                valid = False
                first = entries[key][0]
                self.report(
                    join_key(self._here.path, key) if index_keys else path,
                    f"keys {excerpt(first)} and {excerpt(raw_key)} "
                    "name the same entry; keep only one of them.",
                    position,
                    value=raw_key,
                )
                continue
            entries[key] = (raw_key, value)
        return entries, valid

    def _build(self, cls: type, kwargs: dict, mapping: Mapping) -> Any:
        try:
            return cls(**kwargs)
        except ConfigError as error:
            self._report_error(error, mapping)
            return INVALID


def _locate(data: Any, relative_path: str) -> SourcePosition | None:
    """Find the position of a dotted relative path such as `granularity.block_size`."""
    if not relative_path:
        return None
    node, position = data, None
    for part in relative_path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            break
        position = value_position(node, part) or position
        node = node[part]
    return position


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} {excerpt(value)}"


def _owner_hint(key: object, where: str) -> str | None:
    owners = [name for name, cls in _OWNERS if key in user_fields(cls) and name != where]
    if not owners or (where == "global_config" and "a module config" in owners):
        return None
    return f"{excerpt(key)} is a field of {' or '.join(owners)}; move it there."
