"""The config JSON Schema (draft-07), generated from the config classes.

Field lists and descriptions come from the attrs fields (their `description` metadata), and
the enums from the dtype table, the scheme enums and the calculator registries, so the
schema cannot drift from what the loader accepts. Every object is strict
(`additionalProperties: false`). Keys are strings as in JSON: an index key `0` is `"0"`.
Cross-field rules (such as fp8 allowing only symmetric) are left to the semantic checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from quantplan.quantization.calculators import QPARAM_CALCULATORS, RANGE_CALCULATORS
from quantplan.quantization.config import ModuleQuantizerConfig, OpQuantizerConfig, QuantizerConfig
from quantplan.quantization.dtypes import ELEMENT_TYPES, SCALE_DTYPE_NAMES
from quantplan.quantization.granularity import GRANULARITY_TYPES
from quantplan.quantization.spec import QFormulation, QuantizationScheme, QuantizationSpec

__all__ = ["CONFIG_SCHEMA_FILE", "config_schema", "render_config_schema"]

CONFIG_SCHEMA_FILE = Path(__file__).with_name("config.schema.json")

# Accepted spellings beyond the canonical names; the loader normalizes them.
_DTYPE_ALIASES = ("float8_e4m3", "float4_e2m1fn", "float4_e2m1", "qint8", "quint8")
_SCALE_DTYPE_ALIASES = ("float8_e8m0",)
_BOUNDARY_FIELDS = ("module_input_spec", "module_output_spec")


def config_schema() -> dict[str, Any]:
    """Return the JSON Schema of a config document (`quantization_config`, `quantization_spec`)."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://quantplan.invalid/schema/config.schema.json",
        "title": "quantplan quantization config",
        "type": "object",
        "additionalProperties": False,
        "required": ["quantization_config"],
        "properties": {
            "quantization_config": {
                "description": "The quantization config of the whole model.",
                "allOf": [_ref("QuantizerConfig")],
            },
            "quantization_spec": {
                "description": "Named specs to anchor (&name) and reuse (*name); each is checked.",
                "type": ["object", "null"],
                "additionalProperties": _ref("QuantizationSpec"),
            },
        },
        "definitions": _definitions(),
    }


def render_config_schema() -> str:
    """Return the schema as the JSON text stored in config.schema.json."""
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"


def _definitions() -> dict[str, Any]:
    return {
        "QuantizerConfig": _object(QuantizerConfig, _quantizer_field),
        "GlobalModuleConfig": _object(
            ModuleQuantizerConfig, _module_field, exclude=_BOUNDARY_FIELDS
        ),
        "ModuleQuantizerConfig": _object(ModuleQuantizerConfig, _module_field),
        "OpQuantizerConfig": _object(OpQuantizerConfig, _module_field),
        "QuantizationSpec": _object(QuantizationSpec, _spec_field),
        "Granularity": _granularity(),
        "IndexSpecMap": _spec_map(r"^(\*|[0-9]+)$", "input/output positions (0, 1, ...) or *"),
        "StateSpecMap": _spec_map(r"^(\*|[A-Za-z_][A-Za-z0-9_]*)$", "parameter names or *"),
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _nullable(name: str) -> dict[str, Any]:
    return {"anyOf": [_ref(name), {"type": "null"}]}


def _object(cls: type, field_schema: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    properties = {}
    for field in attrs.fields(cls):
        if not field.init or field.name.startswith("_") or field.name in exclude:
            continue
        schema = dict(field_schema(field.name))
        schema["description"] = field.metadata.get("description", "")
        properties[field.name] = schema
    return {
        "type": "object",
        "description": (cls.__doc__ or "").strip().splitlines()[0],
        "additionalProperties": False,
        "properties": properties,
    }


def _quantizer_field(name: str) -> dict[str, Any]:
    if name == "global_config":
        return _nullable("GlobalModuleConfig")
    if name == "execution_mode":
        return {"type": "string", "enum": ["graph", "eager"]}
    return {"type": "object", "additionalProperties": _nullable("ModuleQuantizerConfig")}


def _module_field(name: str) -> dict[str, Any]:
    if name in ("op_type_config", "op_name_config"):
        return {"type": "object", "additionalProperties": _nullable("OpQuantizerConfig")}
    if name == "op_state_spec":
        return {"allOf": [_ref("StateSpecMap")]}
    return {"allOf": [_ref("IndexSpecMap")]}


def _spec_map(key_pattern: str, keys: str) -> dict[str, Any]:
    return {
        "description": f"Specs keyed by {keys}; a null entry leaves that tensor in float.",
        "type": ["object", "null"],
        "propertyNames": {"pattern": key_pattern},
        "additionalProperties": _nullable("QuantizationSpec"),
    }


def _spec_field(name: str) -> dict[str, Any]:
    schemas: dict[str, dict[str, Any]] = {
        "dtype": {"type": "string", "enum": _spellings(tuple(ELEMENT_TYPES) + _DTYPE_ALIASES)},
        "qscheme": {"type": "string", "enum": [member.value for member in QuantizationScheme]},
        "qformulation": {"type": "string", "enum": [member.value for member in QFormulation]},
        "granularity": {"allOf": [_ref("Granularity")]},
        "qparam_calculator_cls": {"type": "string", "enum": list(QPARAM_CALCULATORS.names())},
        "range_calculator_cls": {"type": "string", "enum": list(RANGE_CALCULATORS.names())},
        "float_range": {
            "type": ["array", "null"],
            "minItems": 2,
            "maxItems": 2,
            "items": {"type": ["number", "null"]},
        },
        "scale_dtype": {
            "enum": [None, *_spellings(tuple(SCALE_DTYPE_NAMES) + _SCALE_DTYPE_ALIASES)]
        },
    }
    return schemas[name]


def _spellings(names: tuple[str, ...]) -> list[str]:
    return [*names, *(f"torch.{name}" for name in names)]


def _granularity() -> dict[str, Any]:
    variants = []
    for kind, cls in GRANULARITY_TYPES.items():
        properties: dict[str, Any] = {"type": {"const": kind, "description": "Granularity type."}}
        for field in attrs.fields(cls):
            properties[field.name] = {
                **_granularity_field(field.name),
                "description": field.metadata.get("description", ""),
            }
        variants.append(
            {
                "type": "object",
                "description": (cls.__doc__ or "").strip().splitlines()[0],
                "additionalProperties": False,
                "required": [
                    "type",
                    *(f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING),
                ],
                "properties": properties,
            }
        )
    return {
        "description": "per_tensor, per_channel (axis) or per_block (block_size, axis).",
        "oneOf": variants,
    }


def _granularity_field(name: str) -> dict[str, Any]:
    if name == "axis":
        return {"type": ["integer", "null"]}
    positive = {"type": "integer", "minimum": 1}
    return {
        "anyOf": [
            positive,
            {"type": "array", "minItems": 1, "items": {"anyOf": [positive, {"const": -1}]}},
        ]
    }


if __name__ == "__main__":
    CONFIG_SCHEMA_FILE.write_text(render_config_schema(), encoding="utf-8")
