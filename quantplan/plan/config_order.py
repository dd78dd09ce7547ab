"""The plan's form of a normalized config: rule maps stored as ordered [key, value] pairs.

Among rules that match the same module or op, the last declared wins, so the order of
`module_name_configs`, `module_type_configs`, `op_type_config` and `op_name_config` is part of
the config's meaning. Canonical plan JSON sorts object keys, so the plan stores these four maps
as lists of `[key, value]` pairs in declaration order; every other map stays a JSON object.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ORDERED_MODULE_MAPS", "ORDERED_OP_MAPS", "config_from_plan_data", "config_to_plan_data"]

ORDERED_MODULE_MAPS = ("module_name_configs", "module_type_configs")
ORDERED_OP_MAPS = ("op_type_config", "op_name_config")


def config_to_plan_data(config_data: dict) -> dict:
    """Turn `QuantizerConfig.to_dict()` output into the plan's form (rule maps as pair lists)."""
    return _convert(config_data, _pairs)


def config_from_plan_data(plan_data: dict) -> dict:
    """Turn the plan's form back into `QuantizerConfig.from_dict` input, keeping rule order.

    Plans written before rule maps were stored as pairs hold plain objects; those pass through.
    """
    return _convert(plan_data, _mapping)


def _pairs(value: Any) -> Any:
    if isinstance(value, dict):
        return [[key, item] for key, item in value.items()]
    return value


def _mapping(value: Any) -> Any:
    if isinstance(value, list):
        return {key: item for key, item in value}
    return value


def _convert(data: Any, convert_map) -> Any:
    if not isinstance(data, dict) or not isinstance(data.get("quantization_config"), dict):
        return data
    section = dict(data["quantization_config"])
    section["global_config"] = _convert_module(section.get("global_config"), convert_map)
    for name in ORDERED_MODULE_MAPS:
        if name not in section:
            continue
        rules = convert_map(section[name])
        section[name] = _map_values(rules, lambda item: _convert_module(item, convert_map))
    if "global_config" not in data["quantization_config"]:
        del section["global_config"]
    return {**data, "quantization_config": section}


def _convert_module(module: Any, convert_map) -> Any:
    if not isinstance(module, dict):
        return module
    converted = dict(module)
    for name in ORDERED_OP_MAPS:
        if name in converted:
            converted[name] = convert_map(converted[name])
    return converted


def _map_values(rules: Any, function) -> Any:
    if isinstance(rules, dict):
        return {key: function(item) for key, item in rules.items()}
    if isinstance(rules, list):
        return [[key, function(item)] for key, item in rules]
    return rules
