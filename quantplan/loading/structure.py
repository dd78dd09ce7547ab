"""Structuring plain data into config objects through hooks on quantplan's own cattrs converter.

Each hook checks the keys of one level, structures the children with the converter and
builds the object. Every problem is collected with its path and source position; a level
with a problem yields `INVALID`, so its parent still walks its other children.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import cattrs

from quantplan.errors import ConfigError, ErrorDetail, SourcePosition
from quantplan.loading._walk import INVALID, Frame, StructuringWalk
from quantplan.loading.paths import join_attribute, join_key
from quantplan.loading.source import key_position, value_position
from quantplan.quantization.config import (
    ExecutionMode,
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QuantizerConfig,
)
from quantplan.quantization.fields import excerpt, user_fields
from quantplan.quantization.granularity import GRANULARITY_TYPES
from quantplan.quantization.keys import (
    normalize_index_key,
    normalize_module_type_key,
    normalize_name_key,
    normalize_state_key,
)
from quantplan.quantization.spec import QuantizationSpec

__all__ = ["INVALID", "ConfigStructurer"]


_BOUNDARY_FIELDS = ("module_input_spec", "module_output_spec")
_TENSOR_GROUPS = ("op_input_spec", "op_output_spec", "op_state_spec")
_RULE_MAPS = {
    "op_type_config": OpQuantizerConfig,
    "op_name_config": OpQuantizerConfig,
    "module_type_configs": ModuleQuantizerConfig,
    "module_name_configs": ModuleQuantizerConfig,
}


class ConfigStructurer(StructuringWalk):
    """One structuring run: a private cattrs converter plus the problems found so far."""

    def __init__(self) -> None:
        super().__init__()
        self.converter = cattrs.Converter()
        self.converter.register_structure_hook(QuantizationSpec, self._structure_spec)
        self.converter.register_structure_hook(OpQuantizerConfig, self._structure_op_config)
        self.converter.register_structure_hook(ModuleQuantizerConfig, self._structure_module)
        self.converter.register_structure_hook(QuantizerConfig, self._structure_quantizer)

    def structure(
        self,
        data: Any,
        cls: type,
        path: str,
        position: SourcePosition | None,
        *,
        global_scope: bool = False,
    ) -> Any:
        """Structure `data` as `cls` at `path`; return INVALID after recording its problems."""
        with self._frame(Frame(path, position, global_scope)):
            return self.converter.structure(data, cls)

    # -- specs ---------------------------------------------------------------------------

    def _structure_spec(self, data: Any, _cls: type) -> Any:
        mapping = self._mapping(data, "a spec", "{dtype: int8, granularity: {type: per_tensor}}")
        if mapping is None:
            return INVALID
        allowed = user_fields(QuantizationSpec)
        bad = self._unknown_keys(mapping, allowed, "a spec")
        fields = {key: value for key, value in mapping.items() if key in allowed}
        if isinstance(fields.get("granularity"), Mapping):
            unknown = self._granularity_keys(mapping["granularity"])
            granularity = fields["granularity"]
            fields["granularity"] = {k: v for k, v in granularity.items() if k not in unknown}
            bad += unknown
        try:
            spec = QuantizationSpec(**fields)
        except ConfigError as error:
            self._report_error(error, mapping)
            return INVALID
        return INVALID if bad else spec

    def _granularity_keys(self, data: Mapping) -> list:
        cls = GRANULARITY_TYPES.get(data.get("type")) if isinstance(data.get("type"), str) else None
        if cls is None:
            return []
        allowed = ("type", *user_fields(cls))
        with self._frame(Frame(join_attribute(self._here.path, "granularity"), None)):
            return self._unknown_keys(data, allowed, f"a {cls.type} granularity")

    # -- op and module configs -----------------------------------------------------------

    def _structure_op_config(self, data: Any, _cls: type) -> Any:
        mapping = self._mapping(data, "an op config", "{op_input_spec: null} or {} for defaults")
        if mapping is None:
            return INVALID
        allowed = user_fields(OpQuantizerConfig)
        valid = not self._unknown_keys(mapping, allowed, "an op config")
        kwargs, valid = self._fields(mapping, allowed, valid)
        return self._build(OpQuantizerConfig, kwargs, mapping) if valid else INVALID

    def _structure_module(self, data: Any, _cls: type) -> Any:
        mapping = self._mapping(data, "a module config", "{op_input_spec: null} or {} for defaults")
        if mapping is None:
            return INVALID
        allowed = user_fields(ModuleQuantizerConfig)
        valid = True
        if self._here.global_scope:
            valid = not self._misplaced_boundary_keys(mapping)
            allowed = tuple(name for name in allowed if name not in _BOUNDARY_FIELDS)
        where = "global_config" if self._here.global_scope else "a module config"
        ignored = _BOUNDARY_FIELDS if self._here.global_scope else ()
        valid = not self._unknown_keys(mapping, allowed, where, ignored) and valid
        kwargs, valid = self._fields(mapping, allowed, valid)
        return self._build(ModuleQuantizerConfig, kwargs, mapping) if valid else INVALID

    def _misplaced_boundary_keys(self, mapping: Mapping) -> list[str]:
        found = [name for name in _BOUNDARY_FIELDS if name in mapping]
        for name in found:
            self.report(
                join_attribute(self._here.path, name),
                f"{name} is not allowed in global_config, which has no module boundary. "
                "Move it under module_type_configs or module_name_configs.",
                key_position(mapping, name),
            )
        return found

    def _fields(self, mapping: Mapping, allowed: tuple[str, ...], valid: bool) -> tuple[dict, bool]:
        kwargs = {}
        for name in allowed:
            if name not in mapping:
                continue
            value = self._field(name, mapping[name], value_position(mapping, name))
            valid = valid and value is not INVALID
            kwargs[name] = value
        return kwargs, valid

    def _field(self, name: str, value: Any, position: SourcePosition | None) -> Any:
        path = join_attribute(self._here.path, name)
        with self._frame(Frame(path, position)):
            if name in _RULE_MAPS:
                return self._rule_map(name, value)
            if name == "op_state_spec":
                return self._spec_map(value, normalize_state_key, index_keys=False)
            return self._spec_map(value, normalize_index_key, index_keys=True)

    # -- maps ----------------------------------------------------------------------------

    def _spec_map(self, data: Any, normalize: Callable, *, index_keys: bool) -> Any:
        if data is None:
            return None
        mapping = self._mapping(data, "a spec map", '{"*": {dtype: int8}}, or null to disable')
        if mapping is None:
            return INVALID
        entries, valid = self._entries(mapping, normalize, index_keys)
        result = self._structure_entries(mapping, entries, QuantizationSpec, raw_paths=False)
        return result if valid else INVALID

    def _rule_map(self, name: str, data: Any) -> Any:
        cls = _RULE_MAPS[name]
        mapping = self._mapping(data, name, "{} for no entries, or omit it")
        if mapping is None:
            return INVALID
        normalize = _RULE_KEYS[name]
        entries, valid = self._entries(mapping, normalize, index_keys=False)
        result = self._structure_entries(mapping, entries, cls, raw_paths=True)
        return result if valid else INVALID

    def _structure_entries(
        self, mapping: Mapping, entries: dict, cls: type, *, raw_paths: bool
    ) -> Any:
        """Structure each non-null value as `cls`; return INVALID when any of them is invalid.

        An entry's path uses its key as written when `raw_paths` is true, else its normalized key.
        """
        result = {}
        for key, (raw_key, value) in entries.items():
            path = join_key(self._here.path, raw_key if raw_paths else key)
            position = value_position(mapping, raw_key)
            result[key] = None if value is None else self.structure(value, cls, path, position)
        if any(value is INVALID for value in result.values()):
            return INVALID
        return result

    # -- the whole config ----------------------------------------------------------------

    def _structure_quantizer(self, data: Any, _cls: type) -> Any:
        mapping = self._mapping(data, "quantization_config", "quantization_config: {}")
        if mapping is None:
            return INVALID
        allowed = user_fields(QuantizerConfig)
        valid = not self._unknown_keys(mapping, allowed, "quantization_config")
        kwargs: dict[str, Any] = {}
        for name in allowed:
            if name not in mapping:
                continue
            kwargs[name] = self._quantizer_field(name, mapping)
            valid = valid and kwargs[name] is not INVALID
        return self._build(QuantizerConfig, kwargs, mapping) if valid else INVALID

    def _quantizer_field(self, name: str, mapping: Mapping) -> Any:
        value, position = mapping[name], value_position(mapping, name)
        if name == "global_config":
            if value is None:
                return None
            return self.structure(value, ModuleQuantizerConfig, name, position, global_scope=True)
        if name == "execution_mode":
            return self._execution_mode(value, position)
        with self._frame(Frame(name, position)):
            return self._rule_map(name, value)

    def _execution_mode(self, value: Any, position: SourcePosition | None) -> Any:
        if value in [mode.value for mode in ExecutionMode]:
            return value
        self.report(
            "execution_mode",
            f"invalid execution_mode {excerpt(value)}. Use 'graph' or 'eager'.",
            position,
            value=value,
            expected=("graph", "eager"),
        )
        return INVALID


def _op_type_key(key: object) -> str:
    if isinstance(key, str) and key.strip():
        return key
    raise ConfigError(
        ErrorDetail(
            path="",
            message=(
                f"invalid op type key {excerpt(key)}: use a name such as 'linear' or 'softmax'."
            ),
            value=key,
        )
    )


_RULE_KEYS: dict[str, Callable[[object], Any]] = {
    "op_type_config": _op_type_key,
    "op_name_config": normalize_name_key,
    "module_type_configs": normalize_module_type_key,
    "module_name_configs": normalize_name_key,
}
