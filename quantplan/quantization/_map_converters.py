"""Converters for the config classes' map fields: keys and values normalized, errors collected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.fields import excerpt
from quantplan.quantization.keys import check_mapping, normalize_index_key, normalize_state_key
from quantplan.quantization.spec import QuantizationSpec

SpecMap = dict[Any, QuantizationSpec | None]


class _Omitted:
    """Marker for a field the caller did not pass; replaced by the default at construction."""

    def __repr__(self) -> str:
        return "<omitted>"


OMITTED: Any = _Omitted()


def spec_value(value: object) -> QuantizationSpec | None:
    if value is None or isinstance(value, QuantizationSpec):
        return value
    raise ConfigError(
        ErrorDetail(
            path="",
            message=(
                f"expected a QuantizationSpec or None, got {type(value).__name__} {excerpt(value)}."
            ),
            value=value,
        )
    )


def keyed_map(
    what: str,
    normalize_key: Callable[[object], Any],
    convert_value: Callable[[object], Any],
    *,
    nullable: bool = True,
) -> Callable[[object], Any]:
    """Build a converter for a map field: OMITTED passes through, keys and values normalized.

    None passes through only for `nullable` maps (tensor groups, where it means disabled);
    the rule maps (`op_type_config`, `module_name_configs`, ...) must be mappings.
    Collects every problem; two keys that normalize to the same key are an error.
    """

    def convert(value: object) -> Any:
        if value is OMITTED or (value is None and nullable):
            return value
        mapping = check_mapping(value, what)
        result: dict = {}
        problems: list[ErrorDetail] = []
        originals: dict = {}
        for raw_key, item in mapping.items():
            key_text = path_key(raw_key)
            try:
                key = normalize_key(raw_key)
            except ConfigError as error:
                problems += [detail.with_prefix(key_text) for detail in error.errors]
                continue
            if key in result:
                problems.append(_collision(key_text, originals[key], raw_key))
                continue
            try:
                result[key] = convert_value(item)
                originals[key] = raw_key
            except ConfigError as error:
                # Paths show the key as written, except positions, which show as integers.
                shown = path_key(key if isinstance(key, int) else raw_key)
                problems += [detail.with_prefix(shown) for detail in error.errors]
        if problems:
            raise ConfigError(problems)
        return result

    return convert


def path_key(key: object) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return f"[{key}]"
    return f'["{key}"]'


def _collision(path: str, first: object, second: object) -> ErrorDetail:
    return ErrorDetail(
        path=path,
        message=(
            f"keys {excerpt(first)} and {excerpt(second)} "
            "name the same entry; keep only one of them."
        ),
        value=second,
    )


index_spec_map = keyed_map("a spec map", normalize_index_key, spec_value)
state_spec_map = keyed_map("op_state_spec", normalize_state_key, spec_value)


def optional_instance(cls: type) -> Callable[[object], object]:
    """Build a converter that accepts an instance of `cls`, None or OMITTED."""
    cls_name = cls.__name__

    def convert(value: object) -> object:
        if value is None or value is OMITTED or isinstance(value, cls):
            return value
        raise ConfigError(
            ErrorDetail(
                path="",
                message=(
                    f"expected a {cls_name} or None, got {type(value).__name__} {excerpt(value)}."
                ),
                value=value,
            )
        )

    return convert


def prefixed(converter: Callable[[object], object], prefix: str) -> Callable[[object], object]:
    def convert(value: object) -> object:
        try:
            return converter(value)
        except ConfigError as error:
            raise error.with_prefix(prefix) from None

    return convert


def op_type_key(key: object) -> str:
    if isinstance(key, str) and key.strip():
        return key
    if callable(key):
        name = getattr(key, "__name__", None)
        if isinstance(name, str):
            return name
    raise ConfigError(
        ErrorDetail(
            path="",
            message=(
                f"invalid op type key {excerpt(key)}: use a name such as 'linear' or 'softmax'."
            ),
            value=key,
        )
    )
