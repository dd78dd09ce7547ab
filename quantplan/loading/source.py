"""Reading YAML into plain Python data that remembers where each key and value was written.

The round-trip loader of ruamel.yaml keeps line/column information and builds no Python
objects. The converter keeps only mappings, lists and plain scalars, and rejects YAML tags. Scalars
follow YAML 1.2, so `1e-5` is a float. Mappings become `PositionedDict`s, and a mapping
reached through an alias is the very object built at its anchor, so its positions point
at the place where the anchored value is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from quantplan.errors import ConfigError, ErrorDetail, SourcePosition
from quantplan.loading.convert import YamlConverter
from quantplan.loading.events import MAX_DEPTH, find_key, nesting_too_deep
from quantplan.loading.paths import document_path
from quantplan.loading.positioned import PositionedDict, key_position, value_position

__all__ = ["PositionedDict", "key_position", "read_yaml", "value_position"]


def read_yaml(source: Any) -> tuple[Any, str | None]:
    """Parse a path, a stream or YAML text; return (data, file name or None).

    A `str` is a path if it names an existing file or ends in .yaml/.yml, else YAML text.
    Raises ConfigError for a file that cannot be read, a YAML syntax error or a YAML tag.
    """
    text, file = _read_text(source)
    try:
        _check_depth(text, file)
        document = YAML(typ="rt").load(text)
    except DuplicateKeyError as error:
        raise ConfigError(_duplicate_key_error(error, text, file)) from None
    except MarkedYAMLError as error:
        raise ConfigError(_syntax_error(error, file)) from None
    except YAMLError as error:
        raise ConfigError(ErrorDetail(path="", message=f"invalid YAML: {error}")) from None
    problems: list[ErrorDetail] = []
    data = YamlConverter(file, problems).convert(document)
    if problems:
        raise ConfigError(problems)
    return data, file


def _check_depth(text: str, file: str | None) -> None:
    place = nesting_too_deep(text)
    if place is None:
        return
    raise ConfigError(
        ErrorDetail(
            path="",
            message=(
                f"the YAML nests more than {MAX_DEPTH} levels deep; a config needs about 8. "
                "Check for unbalanced or repeated brackets."
            ),
            position=SourcePosition(file, place[0] + 1, place[1] + 1),
        )
    )


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


def _duplicate_key_error(error: DuplicateKeyError, text: str, file: str | None) -> ErrorDetail:
    mark = error.problem_mark
    position = SourcePosition(file, mark.line + 1, mark.column + 1)
    key = find_key(text, mark.line, mark.column)
    if key is None:
        # NOTE: only a key that is not a plain scalar (an alias or a collection) gets here.
        message = "duplicate key in a mapping; keep only one of them."
        return ErrorDetail(path="", message=message, position=position)
    first = f" (first written on line {key.first_line + 1})" if key.first_line is not None else ""
    name = key.path[-1]
    return ErrorDetail(
        path=document_path(key.path),
        message=f"duplicate key {name!r}{first}; keep only one of them.",
        value=name,
        position=position,
    )


def _syntax_error(error: MarkedYAMLError, file: str | None) -> ErrorDetail:
    mark = error.problem_mark or error.context_mark
    position = SourcePosition(file, mark.line + 1, mark.column + 1) if mark else None
    problem = " ".join(part for part in (error.context, error.problem) if part)
    return ErrorDetail(path="", message=f"invalid YAML: {problem}.", position=position)
