"""Reading YAML into plain Python data that remembers where each key and value was written.

The round-trip loader of ruamel.yaml keeps line/column information; it builds only plain
mappings, sequences and scalars (no Python objects), and YAML tags are rejected here. Scalars
follow YAML 1.2, so `1e-5` is a float. Mappings become `PositionedDict`s, and a mapping
reached through an alias is the very object built at its anchor, so its positions point
at the place where the anchored value is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from quantplan.errors import ConfigError, ErrorDetail, SourcePosition

__all__ = ["PositionedDict", "key_position", "read_yaml", "value_position"]


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


def read_yaml(source: Any) -> tuple[Any, str | None]:
    """Parse a path, a stream or YAML text; return (data, file name or None).

    A `str` is a path if it names an existing file or ends in .yaml/.yml, else YAML text.
    Raises ConfigError for a file that cannot be read, a YAML syntax error or a YAML tag.
    """
    text, file = _read_text(source)
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as error:
        raise ConfigError(_syntax_error(error, file)) from None
    except YAMLError as error:
        raise ConfigError(ErrorDetail(path="", message=f"invalid YAML: {error}")) from None
    problems: list[ErrorDetail] = []
    data = _Converter(file, problems).convert(document)
    if problems:
        raise ConfigError(problems)
    return data, file


def _read_text(source: Any) -> tuple[str, str | None]:
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _names_file(source)):
        path = os.fspath(source)
        try:
            return Path(path).read_text(encoding="utf-8"), path
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ConfigError(
                ErrorDetail(path="", message=f"cannot read config file {path}: {reason}.")
            ) from None
    if isinstance(source, str):
        return source, None
    if isinstance(source, bytes):
        return source.decode("utf-8"), None
    if hasattr(source, "read"):
        text = source.read()
        name = getattr(source, "name", None)
        return (text.decode("utf-8") if isinstance(text, bytes) else text), _stream_name(name)
    raise ConfigError(
        ErrorDetail(
            path="",
            message=(
                f"cannot load YAML from {type(source).__name__}; pass a path, a stream or text."
            ),
        )
    )


def _names_file(text: str) -> bool:
    if "\n" in text:
        return False
    return text.endswith((".yaml", ".yml")) or os.path.isfile(text)


def _stream_name(name: object) -> str | None:
    return name if isinstance(name, str) and not name.startswith("<") else None


def _syntax_error(error: MarkedYAMLError, file: str | None) -> ErrorDetail:
    mark = error.problem_mark or error.context_mark
    position = SourcePosition(file, mark.line + 1, mark.column + 1) if mark else None
    problem = " ".join(part for part in (error.context, error.problem) if part)
    return ErrorDetail(path="", message=f"invalid YAML: {problem}.", position=position)


class _Converter:
    """Turns ruamel's round-trip objects into plain types, keeping positions, memoizing aliases."""

    def __init__(self, file: str | None, problems: list[ErrorDetail]):
        self.file = file
        self.problems = problems
        self.memo: dict[int, Any] = {}

    def position(self, line: int, column: int) -> SourcePosition:
        return SourcePosition(self.file, line + 1, column + 1)

    def convert(self, node: Any) -> Any:
        if isinstance(node, CommentedMap | CommentedSeq) and id(node) in self.memo:
            return self.memo[id(node)]
        if isinstance(node, CommentedMap):
            return self._mapping(node)
        if isinstance(node, CommentedSeq):
            result: list = []
            self.memo[id(node)] = result
            result.extend(self.convert(item) for item in node)
            return result
        if isinstance(node, TaggedScalar):
            self.problems.append(
                ErrorDetail(path="", message=f"YAML tag {node.tag.value!r} is not allowed here.")
            )
            return None
        return _plain_scalar(node)

    def _mapping(self, node: CommentedMap) -> PositionedDict:
        result = PositionedDict(position=self.position(node.lc.line, node.lc.col))
        self.memo[id(node)] = result
        for key, value in node.items():
            plain_key = _plain_scalar(key)
            result[plain_key] = self.convert(value)
            location = node.lc.data.get(key)
            if location:
                result.key_positions[plain_key] = self.position(location[0], location[1])
                result.value_positions[plain_key] = self.position(location[2], location[3])
        return result


def _plain_scalar(value: Any) -> Any:
    # ruamel returns subclasses (ScalarFloat, ScalarBoolean, ...) that must not leak into configs.
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, ScalarBoolean):
        return bool(value)
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value
