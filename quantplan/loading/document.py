"""The top level of a config document: `quantization_config` and `quantization_spec` anchors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quantplan.errors import ConfigError, ErrorDetail, SourcePosition
from quantplan.loading.paths import join_key
from quantplan.loading.source import PositionedDict, key_position, read_yaml, value_position
from quantplan.loading.structure import INVALID, ConfigStructurer
from quantplan.quantization.config import QuantizerConfig
from quantplan.quantization.fields import excerpt, unknown_key_detail
from quantplan.quantization.spec import QuantizationSpec

__all__ = ["TOP_LEVEL_KEYS", "config_problems", "load_dict", "load_yaml"]

TOP_LEVEL_KEYS = ("quantization_config", "quantization_spec")


def load_yaml(source: Any) -> QuantizerConfig:
    """Load a config from a path, a stream or YAML text; raise ConfigError listing every problem."""
    data, file = read_yaml(source)
    return _load(data, SourcePosition(file, 1, 1))


def load_dict(data: Any) -> QuantizerConfig:
    """Load a config from a dict with the top-level key `quantization_config`."""
    return _load(data, None)


def config_problems(
    data: Any, start: SourcePosition | None = None, *, deduplicate: bool = True
) -> list[ErrorDetail]:
    """Return every problem in parsed config data (empty when it loads), sorted by path.

    `start` is where document-level problems (an empty or non-mapping document) are reported.
    With `deduplicate`, a problem inside an aliased value is listed once, not once per alias.
    """
    return _structure_document(data, start, deduplicate)[1]


def _load(data: Any, start: SourcePosition | None) -> QuantizerConfig:
    config, problems = _structure_document(data, start, True)
    if problems:
        raise ConfigError(problems)
    return config


def _structure_document(
    data: Any, start: SourcePosition | None, deduplicate: bool
) -> tuple[Any, list[ErrorDetail]]:
    structurer = ConfigStructurer()
    config = INVALID
    if _check_document(data, structurer, start):
        _structure_anchors(data, structurer)
        config = _structure_config(data, structurer)
    problems = _deduplicate(structurer.problems) if deduplicate else structurer.problems
    return config, ConfigError(problems).errors if problems else []


def _check_document(data: Any, structurer: ConfigStructurer, start: SourcePosition | None) -> bool:
    if data is None:
        message = "the document is empty; it needs a quantization_config mapping."
        structurer.report("", message, start)
        return False
    if not isinstance(data, Mapping):
        message = (
            f"the document must be a mapping with the key quantization_config, got a {_kind(data)}."
        )
        structurer.report("", message, start)
        return False
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            detail = unknown_key_detail(key, TOP_LEVEL_KEYS, "the document", str(key))
            structurer.problems.append(detail.with_position(key_position(data, key)))
    return True


def _structure_anchors(data: Mapping, structurer: ConfigStructurer) -> None:
    anchors = data.get("quantization_spec")
    if anchors is None:
        return
    if not isinstance(anchors, Mapping):
        structurer.report(
            "quantization_spec",
            f"quantization_spec must be a mapping of named specs, got a {_kind(anchors)}.",
            value_position(data, "quantization_spec"),
        )
        return
    for name, value in anchors.items():
        path = join_key("quantization_spec", name)
        structurer.structure(value, QuantizationSpec, path, value_position(anchors, name))


def _structure_config(data: Mapping, structurer: ConfigStructurer) -> Any:
    if "quantization_config" not in data:
        structurer.report(
            "",
            "missing the required key quantization_config.",
            getattr(data, "position", None),
        )
        return INVALID
    value = data["quantization_config"]
    position = value_position(data, "quantization_config")
    if value is None:
        structurer.report(
            "quantization_config",
            "quantization_config is null; write {} for the default config, "
            "or global_config: null to disable quantization.",
            position,
        )
        return INVALID
    return structurer.structure(value, QuantizerConfig, "", position)


def _deduplicate(problems: list[ErrorDetail]) -> list[ErrorDetail]:
    """Keep the first report per source location and message.

    An aliased value is checked at each use; the anchors section comes first, so its path wins.
    """
    seen: set = set()
    unique = []
    for detail in problems:
        marker = (detail.position, detail.message) if detail.position else id(detail)
        if marker not in seen:
            seen.add(marker)
            unique.append(detail)
    return unique


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, PositionedDict | dict):
        return "mapping"
    return f"{type(value).__name__} ({excerpt(value)})"
