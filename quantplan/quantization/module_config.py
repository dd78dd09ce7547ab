"""`ModuleQuantizerConfig`: specs for every op inside a module scope, with op-level overrides."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from quantplan.quantization._config_fields import (
    MODULE_INPUT_HELP,
    MODULE_OUTPUT_HELP,
    OP_NAME_HELP,
    OP_TYPE_HELP,
    TENSOR_GROUPS,
    PresetsAccessor,
    TensorGroups,
    default_group,
    describe,
    fill_defaults,
    tensor_group_options,
    track_assignment,
)
from quantplan.quantization._map_converters import (
    OMITTED,
    SpecMap,
    index_spec_map,
    keyed_map,
    op_type_key,
    optional_instance,
    prefixed,
)
from quantplan.quantization.arguments import argument_errors
from quantplan.quantization.fields import reject_unknown_keywords
from quantplan.quantization.keys import normalize_name_key
from quantplan.quantization.op_config import OpQuantizerConfig

__all__ = ["ModuleQuantizerConfig"]

_op_name_map = keyed_map(
    "op_name_config", normalize_name_key, optional_instance(OpQuantizerConfig), nullable=False
)


_op_type_map = keyed_map(
    "op_type_config", op_type_key, optional_instance(OpQuantizerConfig), nullable=False
)


@argument_errors
@attrs.define(eq=True, init=False, on_setattr=track_assignment)
class ModuleQuantizerConfig(TensorGroups):
    """Specs for every op inside a module scope, with per-op-type and per-op-name overrides.

    `module_input_spec` / `module_output_spec` quantize tensors at the module's boundary
    (positions in its forward() signature / its tensor outputs); they are not allowed in
    `global_config`, which has no boundary.
    """

    op_input_spec: SpecMap | None = attrs.field(**tensor_group_options("op_input_spec"))
    op_output_spec: SpecMap | None = attrs.field(**tensor_group_options("op_output_spec"))
    op_state_spec: SpecMap | None = attrs.field(**tensor_group_options("op_state_spec"))
    op_type_config: dict[str, OpQuantizerConfig | None] = attrs.field(
        factory=dict,
        converter=prefixed(_op_type_map, "op_type_config"),
        metadata=describe(OP_TYPE_HELP),
    )
    op_name_config: dict[str, OpQuantizerConfig | None] = attrs.field(
        factory=dict,
        converter=prefixed(_op_name_map, "op_name_config"),
        metadata=describe(OP_NAME_HELP),
    )
    module_input_spec: SpecMap | None = attrs.field(
        default=None,
        converter=prefixed(index_spec_map, "module_input_spec"),
        metadata=describe(MODULE_INPUT_HELP),
    )
    module_output_spec: SpecMap | None = attrs.field(
        default=None,
        converter=prefixed(index_spec_map, "module_output_spec"),
        metadata=describe(MODULE_OUTPUT_HELP),
    )
    _defaulted: frozenset[str] = attrs.field(init=False, eq=False, repr=False, factory=frozenset)

    presets: ClassVar[Any] = PresetsAccessor()

    def __init__(
        self,
        op_input_spec: object = OMITTED,
        op_output_spec: object = OMITTED,
        op_state_spec: object = OMITTED,
        op_type_config: object = attrs.NOTHING,
        op_name_config: object = attrs.NOTHING,
        module_input_spec: object = None,
        module_output_spec: object = None,
        **unknown: object,
    ):
        reject_unknown_keywords(type(self), unknown)
        self.__attrs_init__(
            op_input_spec,
            op_output_spec,
            op_state_spec,
            {} if op_type_config is attrs.NOTHING else op_type_config,
            {} if op_name_config is attrs.NOTHING else op_name_config,
            module_input_spec,
            module_output_spec,
        )

    def __attrs_post_init__(self) -> None:
        fill_defaults(self, TENSOR_GROUPS, default_group)

    def has_boundary_specs(self) -> bool:
        """Return whether module_input_spec or module_output_spec is set (even to an empty map)."""
        return self.module_input_spec is not None or self.module_output_spec is not None

    def set_op_type(
        self, op_type: object, config: OpQuantizerConfig | None
    ) -> ModuleQuantizerConfig:
        """Set the config for an op type (None leaves it in float); returns self."""
        self.op_type_config = {**self.op_type_config, op_type: config}
        return self

    def set_op_name(self, op_name: str, config: OpQuantizerConfig | None) -> ModuleQuantizerConfig:
        """Set the config for ops whose name full-matches `op_name`; returns self."""
        self.op_name_config = {**self.op_name_config, op_name: config}
        return self
