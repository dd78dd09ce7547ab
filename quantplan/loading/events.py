"""A pass over the YAML event stream: nesting depth and the place of each mapping key.

ruamel.yaml composes nodes recursively, so thousands of nested `[` end in RecursionError.
The event stream is flat, so this pass can reject deep nesting before the document is
composed, and can name the config path of a key that the composer rejects as a duplicate.
"""

from __future__ import annotations

import attrs
from ruamel.yaml import YAML
from ruamel.yaml.events import (
    CollectionEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)

__all__ = ["MAX_DEPTH", "DocumentKey", "find_key", "nesting_too_deep"]

# Real configs nest about 8 levels (config, rule map, module, spec map, spec, granularity).
MAX_DEPTH = 64


@attrs.define
class _Frame:
    is_mapping: bool
    key: object = None
    expect_key: bool = True
    index: int = -1
    # Raw key text -> 0-based line of its first occurrence in this mapping.
    first_lines: dict = attrs.Factory(dict)


@attrs.frozen
class DocumentKey:
    """A mapping key in the document: its YAML key path and where its first occurrence is."""

    path: tuple
    first_line: int | None


def nesting_too_deep(text: str) -> tuple[int, int] | None:
    """Return the 0-based (line, column) where nesting first exceeds MAX_DEPTH, or None."""
    stack: list[_Frame] = []
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            stack.append(_Frame(isinstance(event, MappingStartEvent)))
            if len(stack) > MAX_DEPTH:
                return event.start_mark.line, event.start_mark.column
        elif isinstance(event, CollectionEndEvent):
            stack.pop()
    return None


def find_key(text: str, line: int, column: int) -> DocumentKey | None:
    """Return the mapping key written at the 0-based (line, column), or None if none is there."""
    stack: list[_Frame] = []
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, CollectionEndEvent):
            stack.pop()
            continue
        if stack and stack[-1].is_mapping and stack[-1].expect_key:
            found = _record_key(stack, event, line, column)
            if found is not None:
                return found
            continue
        _step_value(stack)
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            stack.append(_Frame(isinstance(event, MappingStartEvent)))
    return None


def _record_key(stack: list[_Frame], event: object, line: int, column: int) -> DocumentKey | None:
    frame = stack[-1]
    frame.expect_key = False
    raw = event.value if isinstance(event, ScalarEvent) else None
    frame.key = _plain_key(event) if raw is not None else raw
    mark = event.start_mark
    first = frame.first_lines.get(raw)
    if (mark.line, mark.column) == (line, column):
        return DocumentKey(tuple(_keys(stack)), first)
    if raw is not None and first is None:
        frame.first_lines[raw] = mark.line
    if isinstance(event, MappingStartEvent | SequenceStartEvent):
        # A complex key: walk into it like any collection.
        stack.append(_Frame(isinstance(event, MappingStartEvent)))
    return None


def _step_value(stack: list[_Frame]) -> None:
    if not stack:
        return
    frame = stack[-1]
    if frame.is_mapping:
        frame.expect_key = True
    else:
        frame.index += 1
        frame.key = frame.index


def _plain_key(event: ScalarEvent) -> object:
    # A plain (unquoted) digit key is an integer in YAML 1.2, as in `op_input_spec: {0: ...}`.
    if event.style is None and event.value.isdigit():
        return int(event.value)
    return event.value


def _keys(stack: list[_Frame]) -> list:
    return [frame.key for frame in stack]
