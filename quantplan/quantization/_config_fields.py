"""Shared pieces of the config classes: tensor-group defaults, assignment tracking, field help."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from quantplan.quantization._map_converters import (
    OMITTED,
    SpecMap,
    index_spec_map,
    prefixed,
    state_spec_map,
)
from quantplan.quantization.spec import (
    default_activation_quantization_spec,
    default_weight_quantization_spec,
)


def default_group(name: str) -> SpecMap:
    if name == "op_state_spec":
        return {"weight": default_weight_quantization_spec()}
    return {"*": default_activation_quantization_spec()}


TENSOR_GROUPS = ("op_input_spec", "op_output_spec", "op_state_spec")


def track_assignment(instance: Any, attribute: attrs.Attribute, value: object) -> object:
    """on_setattr hook: convert, and forget that a field was defaulted once it is assigned."""
    if attribute.converter is not None:
        value = attribute.converter(value)
    if attribute.name in (*TENSOR_GROUPS, "global_config") and value is not OMITTED:
        defaulted = getattr(instance, "_defaulted", frozenset())
        object.__setattr__(instance, "_defaulted", defaulted - {attribute.name})
    return value


def fill_defaults(instance: Any, names: tuple[str, ...], factory: Callable[[str], object]) -> None:
    defaulted = set()
    for name in names:
        if getattr(instance, name) is OMITTED:
            object.__setattr__(instance, name, factory(name))
            defaulted.add(name)
    object.__setattr__(instance, "_defaulted", frozenset(defaulted))


def describe(text: str) -> dict[str, str]:
    """Field metadata; the JSON Schema generator shows `description` in editors."""
    return {"description": text}


INPUT_HELP = (
    'Specs for op inputs, keyed by input position (0, 1, ...) or "*" for every input. '
    "Omitted: int8 per-tensor on every input. null: inputs stay in float."
)
OUTPUT_HELP = (
    'Specs for op outputs, keyed by output position or "*". '
    "Omitted: int8 per-tensor on every output. null: outputs stay in float."
)
STATE_HELP = (
    'Specs for op parameters, keyed by attribute name (weight, bias, ...) or "*" for every '
    "floating-point parameter. Omitted: int8 per-channel on weight. null: parameters stay in float."
)
OP_TYPE_HELP = (
    "Op configs keyed by op type (linear, conv2d, add, softmax, ...); "
    "null leaves that op type in float."
)
OP_NAME_HELP = (
    "Op configs keyed by a regular expression full-matched against op names; "
    "beats op_type_config. null leaves the op in float."
)
MODULE_INPUT_HELP = (
    "Specs for the module's forward() arguments at its boundary, "
    'keyed by argument position or "*".'
)
MODULE_OUTPUT_HELP = (
    'Specs for the module\'s tensor outputs at its boundary, keyed by position or "*".'
)
GLOBAL_HELP = (
    "The module config for every module that no type or name rule decides. "
    "Omitted: W8A8 defaults. null: quantization is off outside other rules."
)
MODULE_TYPE_HELP = (
    "Module configs keyed by nn.Module class name (fully qualified, such as "
    "torch.nn.modules.linear.Linear, or a short class name); null leaves those modules in float."
)
MODULE_NAME_HELP = (
    "Module configs keyed by a regular expression full-matched against named_modules() names; "
    "beats module_type_configs. null leaves those modules in float."
)
EXECUTION_MODE_HELP = "How ops are captured: graph (torch.export nodes, the default) or eager."

_TENSOR_GROUP_HELP = {
    "op_input_spec": INPUT_HELP,
    "op_output_spec": OUTPUT_HELP,
    "op_state_spec": STATE_HELP,
}


class PresetsAccessor:
    """Class attribute `presets`: the preset recipes that build configs of the owning class."""

    def __get__(self, instance: object, owner: type) -> Any:
        from quantplan.quantization.presets import presets_for

        return presets_for(owner)


class TensorGroups:
    """Shared behaviour of the two classes that hold op tensor-group specs."""

    _defaulted: frozenset[str]

    @property
    def defaulted_fields(self) -> frozenset[str]:
        """Tensor-group fields that took their default because the caller omitted them."""
        return self._defaulted


def tensor_group_options(name: str) -> dict[str, Any]:
    """Return the `attrs.field` options of tensor group `name`, shared by both config classes."""
    spec_map = state_spec_map if name == "op_state_spec" else index_spec_map
    return {
        "default": OMITTED,
        "converter": prefixed(spec_map, name),
        "metadata": describe(_TENSOR_GROUP_HELP[name]),
    }
