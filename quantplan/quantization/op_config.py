"""`OpQuantizerConfig`: the specs for the tensors of ops matched by an op type or op name."""

from __future__ import annotations

import attrs

from quantplan.quantization._config_fields import (
    TENSOR_GROUPS,
    TensorGroups,
    default_group,
    fill_defaults,
    tensor_group_options,
    track_assignment,
)
from quantplan.quantization._map_converters import (
    OMITTED,
    SpecMap,
)
from quantplan.quantization.arguments import argument_errors
from quantplan.quantization.fields import reject_unknown_keywords

__all__ = ["OpQuantizerConfig"]


@argument_errors
@attrs.define(eq=True, init=False, on_setattr=track_assignment)
class OpQuantizerConfig(TensorGroups):
    """Specs for the tensors of ops matched by an op type or op name."""

    op_input_spec: SpecMap | None = attrs.field(**tensor_group_options("op_input_spec"))
    op_output_spec: SpecMap | None = attrs.field(**tensor_group_options("op_output_spec"))
    op_state_spec: SpecMap | None = attrs.field(**tensor_group_options("op_state_spec"))
    _defaulted: frozenset[str] = attrs.field(init=False, eq=False, repr=False, factory=frozenset)

    def __init__(
        self,
        op_input_spec: object = OMITTED,
        op_output_spec: object = OMITTED,
        op_state_spec: object = OMITTED,
        **unknown: object,
    ):
        reject_unknown_keywords(type(self), unknown)
        self.__attrs_init__(op_input_spec, op_output_spec, op_state_spec)

    def __attrs_post_init__(self) -> None:
        fill_defaults(self, TENSOR_GROUPS, default_group)
