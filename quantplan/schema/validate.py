"""Validating config files: the semantic checks of the loader plus the JSON Schema.

The loader's messages are the precise ones, so a schema error is reported only where the
loader found nothing at or around the same path; it then shows a loader/schema mismatch
instead of hiding it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from quantplan.errors import ConfigError, ErrorDetail, SourcePosition
from quantplan.loading import config_problems, read_yaml
from quantplan.loading.paths import join_attribute, join_key
from quantplan.loading.source import key_position, value_position
from quantplan.quantization.fields import MAX_EXCERPT, excerpt
from quantplan.schema.config_schema import config_schema

__all__ = ["schema_problems", "to_json_data", "validate_config_data", "validate_config_file"]

# What a field's value is, so that the next path segment is a map key or an attribute.
_FIELD_KINDS = {
    "global_config": "module",
    "module_type_configs": "module_map",
    "module_name_configs": "module_map",
    "op_type_config": "op_map",
    "op_name_config": "op_map",
    "op_input_spec": "index_map",
    "op_output_spec": "index_map",
    "module_input_spec": "index_map",
    "module_output_spec": "index_map",
    "op_state_spec": "state_map",
}
_MAP_VALUE_KINDS = {
    "module_map": "module",
    "op_map": "module",
    "index_map": "spec",
    "state_map": "spec",
    "anchors": "spec",
}


def validate_config_file(path: str) -> list[ErrorDetail]:
    """Return every problem in the config file at `path`, sorted by path (empty if valid)."""
    try:
        data, file = read_yaml(path)
    except ConfigError as error:
        return [_at_file(detail, path) for detail in error.errors]
    return validate_config_data(data, file)


def validate_config_data(data: Any, file: str | None = None) -> list[ErrorDetail]:
    """Return the loader's problems plus any schema problem the loader did not cover."""
    start = SourcePosition(file, 1, 1)
    problems = config_problems(data, start)
    covered = [detail.path for detail in config_problems(data, start, deduplicate=False)]
    extra = [detail for detail in schema_problems(data, file) if not _covered(detail.path, covered)]
    if not problems and not extra:
        return []
    return ConfigError(problems + extra).errors


def schema_problems(data: Any, file: str | None = None) -> list[ErrorDetail]:
    """Return the JSON Schema errors of parsed config data, located in the source."""
    validator = jsonschema.Draft7Validator(config_schema())
    problems = []
    for error in validator.iter_errors(to_json_data(data)):
        segments = list(error.absolute_path)
        position = _position(data, segments) or SourcePosition(file, 1, 1)
        problems.append(
            ErrorDetail(
                path=_design_path(segments), message=_short_message(error), position=position
            )
        )
    return problems


def _short_message(error: jsonschema.ValidationError) -> str:
    # jsonschema starts most messages with the repr of the whole value, which can be huge.
    shown = repr(error.instance)
    if error.message.startswith(shown) and len(shown) > MAX_EXCERPT:
        return excerpt(error.instance) + error.message[len(shown) :]
    return error.message


def to_json_data(data: Any) -> Any:
    """Return the data as JSON would hold it: plain dicts with string keys."""
    if isinstance(data, Mapping):
        return {str(key): to_json_data(value) for key, value in data.items()}
    if isinstance(data, list):
        return [to_json_data(item) for item in data]
    return data


def _at_file(detail: ErrorDetail, path: str) -> ErrorDetail:
    return detail.with_position(SourcePosition(path, 1, 1)) if detail.position is None else detail


def _covered(path: str, covered: list[str]) -> bool:
    return any(path == other or _within(path, other) or _within(other, path) for other in covered)


def _within(inner: str, outer: str) -> bool:
    return outer == "" or (inner.startswith(outer) and inner[len(outer)] in ".[")


def _design_path(segments: list) -> str:
    if not segments:
        return ""
    head, rest = segments[0], segments[1:]
    if head == "quantization_spec":
        path, kind = "quantization_spec", "anchors"
    elif head == "quantization_config":
        path, kind = "", "quantizer"
    else:
        return str(head)
    for segment in rest:
        if isinstance(segment, int):
            path, kind = f"{path}[{segment}]", "leaf"
        elif kind in _MAP_VALUE_KINDS:
            key = int(segment) if kind == "index_map" and segment.isdigit() else segment
            path, kind = join_key(path, key), _MAP_VALUE_KINDS[kind]
        else:
            path, kind = join_attribute(path, segment), _FIELD_KINDS.get(segment, "leaf")
    return path


def _position(data: Any, segments: list) -> SourcePosition | None:
    node, position = data, None
    for index, segment in enumerate(segments):
        if not isinstance(node, Mapping):
            break
        key = next((key for key in node if str(key) == str(segment)), None)
        if key is None:
            break
        last = index == len(segments) - 1
        position = (key_position(node, key) if last else value_position(node, key)) or position
        node = node[key]
    return position
