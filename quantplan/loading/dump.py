"""Dumping configs to plain dicts and YAML that load back equal.

Tensor groups that took their default (omitted by the user) are left out, so a dump keeps
the omitted-versus-explicit distinction. Spec fields are written only where they differ
from the defaults; `dtype` and `granularity` are always written.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

from quantplan.quantization.config import ExecutionMode, ModuleQuantizerConfig, QuantizerConfig
from quantplan.quantization.dtypes import dtype_name
from quantplan.quantization.spec import QuantizationSpec

__all__ = ["dump_dict", "dump_yaml", "spec_to_dict"]

_TENSOR_GROUPS = ("op_input_spec", "op_output_spec", "op_state_spec")
_SPEC_DEFAULTS = QuantizationSpec()


def dump_dict(config: QuantizerConfig) -> dict:
    """Return `{"quantization_config": {...}}` with plain Python values."""
    body: dict[str, Any] = {}
    default_global = ModuleQuantizerConfig()
    if "global_config" not in config.defaulted_fields or config.global_config != default_global:
        body["global_config"] = _module(config.global_config)
    for name in ("module_type_configs", "module_name_configs"):
        rules = getattr(config, name)
        if rules:
            body[name] = {key: _module(value) for key, value in rules.items()}
    if config.execution_mode is not ExecutionMode.GRAPH:
        body["execution_mode"] = config.execution_mode.value
    return {"quantization_config": body}


def dump_yaml(config: QuantizerConfig, stream: Any = None) -> str:
    """Return the config as YAML text; also write it to `stream` when one is given."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    buffer = io.StringIO()
    yaml.dump(dump_dict(config), buffer)
    text = buffer.getvalue()
    if stream is not None:
        stream.write(text)
    return text


def _module(config: Any) -> dict | None:
    if config is None:
        return None
    body: dict[str, Any] = {}
    template = ModuleQuantizerConfig() if isinstance(config, ModuleQuantizerConfig) else None
    for name in _TENSOR_GROUPS:
        value = getattr(config, name)
        default = getattr(template or type(config)(), name)
        if name in config.defaulted_fields and value == default:
            continue
        body[name] = _spec_map(value)
    for name in ("op_type_config", "op_name_config"):
        rules = getattr(config, name, None)
        if rules:
            body[name] = {key: _module(value) for key, value in rules.items()}
    for name in ("module_input_spec", "module_output_spec"):
        value = getattr(config, name, None)
        if value is not None:
            body[name] = _spec_map(value)
    return body


def _spec_map(value: dict | None) -> dict | None:
    if value is None:
        return None
    return {key: None if spec is None else spec_to_dict(spec) for key, spec in value.items()}


def spec_to_dict(spec: QuantizationSpec) -> dict[str, Any]:
    """Return the spec's fields that differ from the defaults, plus dtype and granularity."""
    body: dict[str, Any] = {"dtype": dtype_name(spec.dtype)}
    for name in ("qscheme", "qformulation"):
        if getattr(spec, name) != getattr(_SPEC_DEFAULTS, name):
            body[name] = getattr(spec, name).value
    body["granularity"] = _granularity(spec.granularity)
    for name in ("qparam_calculator_cls", "range_calculator_cls"):
        if getattr(spec, name) != getattr(_SPEC_DEFAULTS, name):
            body[name] = getattr(spec, name)
    if spec.float_range != (None, None):
        body["float_range"] = list(spec.float_range)
    if spec.scale_dtype is not None:
        body["scale_dtype"] = dtype_name(spec.scale_dtype)
    return body


def _granularity(granularity: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": granularity.type}
    block_size = getattr(granularity, "block_size", None)
    if block_size is not None:
        body["block_size"] = list(block_size) if isinstance(block_size, tuple) else block_size
    if getattr(granularity, "axis", None) is not None:
        body["axis"] = granularity.axis
    return body
