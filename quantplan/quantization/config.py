"""The three config classes: `QuantizerConfig` > `ModuleQuantizerConfig` > `OpQuantizerConfig`.

Meanings of a tensor-group field (`op_input_spec`, `op_output_spec`, `op_state_spec`):

- omitted: the documented default (W8A8); the field name is recorded in `defaulted_fields`
  so the plan can say "(default)";
- None: the tensor group is disabled;
- `{}`: an empty map, which quantizes nothing and never brings a default back.

The classes are mutable because the documented setters change a config in place and
return it. Every assignment is converted and validated, so a config never holds a value
that loading would reject.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.arguments import argument_errors
from quantplan.quantization.fields import excerpt, reject_unknown_keywords
from quantplan.quantization.keys import (
    check_mapping,
    normalize_index_key,
    normalize_module_type_key,
    normalize_name_key,
    normalize_state_key,
)
from quantplan.quantization.spec import (
    QuantizationSpec,
    default_activation_quantization_spec,
    default_weight_quantization_spec,
)

__all__ = [
    "ExecutionMode",
    "ModuleQuantizerConfig",
    "OpQuantizerConfig",
    "QuantizerConfig",
]

SpecMap = dict[Any, QuantizationSpec | None]


class ExecutionMode(str, enum.Enum):
    """How the compiler captures ops: torch.export graph nodes, or eager torch-function calls."""

    GRAPH = "graph"
    EAGER = "eager"

    def __str__(self) -> str:
        return self.value


class _Omitted:
    """Marker for a field the caller did not pass; replaced by the default at construction."""

    def __repr__(self) -> str:
        return "<omitted>"


OMITTED: Any = _Omitted()


def _convert_execution_mode(value: object) -> ExecutionMode:
    for member in ExecutionMode:
        if value == member or value == member.value:
            return member
    raise ConfigError(
        ErrorDetail(
            path="execution_mode",
            message=f"invalid execution_mode {excerpt(value)}. Use 'graph' or 'eager'.",
            value=value,
            expected=("graph", "eager"),
        )
    )


def _spec_value(value: object) -> QuantizationSpec | None:
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


def _keyed_map(
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
            key_text = _path_key(raw_key)
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
                shown = _path_key(key if isinstance(key, int) else raw_key)
                problems += [detail.with_prefix(shown) for detail in error.errors]
        if problems:
            raise ConfigError(problems)
        return result

    return convert


def _path_key(key: object) -> str:
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


_index_spec_map = _keyed_map("a spec map", normalize_index_key, _spec_value)
_state_spec_map = _keyed_map("op_state_spec", normalize_state_key, _spec_value)


def _optional_instance(cls_name: str) -> Callable[[object], object]:
    def convert(value: object) -> object:
        cls = globals()[cls_name]
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


def _prefixed(converter: Callable[[object], object], prefix: str) -> Callable[[object], object]:
    def convert(value: object) -> object:
        try:
            return converter(value)
        except ConfigError as error:
            raise error.with_prefix(prefix) from None

    return convert


def _default_group(name: str) -> SpecMap:
    if name == "op_state_spec":
        return {"weight": default_weight_quantization_spec()}
    return {"*": default_activation_quantization_spec()}


_TENSOR_GROUPS = ("op_input_spec", "op_output_spec", "op_state_spec")


def _track_assignment(instance: Any, attribute: attrs.Attribute, value: object) -> object:
    """on_setattr hook: convert, and forget that a field was defaulted once it is assigned."""
    if attribute.converter is not None:
        value = attribute.converter(value)
    if attribute.name in (*_TENSOR_GROUPS, "global_config") and value is not OMITTED:
        defaulted = getattr(instance, "_defaulted", frozenset())
        object.__setattr__(instance, "_defaulted", defaulted - {attribute.name})
    return value


def _fill_defaults(instance: Any, names: tuple[str, ...], factory: Callable[[str], object]) -> None:
    defaulted = set()
    for name in names:
        if getattr(instance, name) is OMITTED:
            object.__setattr__(instance, name, factory(name))
            defaulted.add(name)
    object.__setattr__(instance, "_defaulted", frozenset(defaulted))


def _describe(text: str) -> dict[str, str]:
    """Field metadata; the JSON Schema generator shows `description` in editors."""
    return {"description": text}


_INPUT_HELP = (
    'Specs for op inputs, keyed by input position (0, 1, ...) or "*" for every input. '
    "Omitted: int8 per-tensor on every input. null: inputs stay in float."
)
_OUTPUT_HELP = (
    'Specs for op outputs, keyed by output position or "*". '
    "Omitted: int8 per-tensor on every output. null: outputs stay in float."
)
_STATE_HELP = (
    'Specs for op parameters, keyed by attribute name (weight, bias, ...) or "*" for every '
    "floating-point parameter. Omitted: int8 per-channel on weight. null: parameters stay in float."
)
_OP_TYPE_HELP = (
    "Op configs keyed by op type (linear, conv2d, add, softmax, ...); "
    "null leaves that op type in float."
)
_OP_NAME_HELP = (
    "Op configs keyed by a regular expression full-matched against op names; "
    "beats op_type_config. null leaves the op in float."
)
_MODULE_INPUT_HELP = (
    "Specs for the module's forward() arguments at its boundary, "
    'keyed by argument position or "*".'
)
_MODULE_OUTPUT_HELP = (
    'Specs for the module\'s tensor outputs at its boundary, keyed by position or "*".'
)
_GLOBAL_HELP = (
    "The module config for every module that no type or name rule decides. "
    "Omitted: W8A8 defaults. null: quantization is off outside other rules."
)
_MODULE_TYPE_HELP = (
    "Module configs keyed by nn.Module class name (fully qualified, such as "
    "torch.nn.modules.linear.Linear, or a short class name); null leaves those modules in float."
)
_MODULE_NAME_HELP = (
    "Module configs keyed by a regular expression full-matched against named_modules() names; "
    "beats module_type_configs. null leaves those modules in float."
)
_EXECUTION_MODE_HELP = "How ops are captured: graph (torch.export nodes, the default) or eager."


class _PresetsAccessor:
    """Class attribute `presets`: the preset recipes that build configs of the owning class."""

    def __get__(self, instance: object, owner: type) -> Any:
        from quantplan.quantization.presets import presets_for

        return presets_for(owner)


class _TensorGroups:
    """Shared behaviour of the two classes that hold op tensor-group specs."""

    _defaulted: frozenset[str]

    @property
    def defaulted_fields(self) -> frozenset[str]:
        """Tensor-group fields that took their default because the caller omitted them."""
        return self._defaulted


@argument_errors
@attrs.define(eq=True, init=False, on_setattr=_track_assignment)
class OpQuantizerConfig(_TensorGroups):
    """Specs for the tensors of ops matched by an op type or op name."""

    op_input_spec: SpecMap | None = attrs.field(
        default=OMITTED,
        converter=_prefixed(_index_spec_map, "op_input_spec"),
        metadata=_describe(_INPUT_HELP),
    )
    op_output_spec: SpecMap | None = attrs.field(
        default=OMITTED,
        converter=_prefixed(_index_spec_map, "op_output_spec"),
        metadata=_describe(_OUTPUT_HELP),
    )
    op_state_spec: SpecMap | None = attrs.field(
        default=OMITTED,
        converter=_prefixed(_state_spec_map, "op_state_spec"),
        metadata=_describe(_STATE_HELP),
    )
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
        _fill_defaults(self, _TENSOR_GROUPS, _default_group)


_op_name_map = _keyed_map(
    "op_name_config", normalize_name_key, _optional_instance("OpQuantizerConfig"), nullable=False
)


def _op_type_key(key: object) -> str:
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


_op_type_map = _keyed_map(
    "op_type_config", _op_type_key, _optional_instance("OpQuantizerConfig"), nullable=False
)


@argument_errors
@attrs.define(eq=True, init=False, on_setattr=_track_assignment)
class ModuleQuantizerConfig(_TensorGroups):
    """Specs for every op inside a module scope, with per-op-type and per-op-name overrides.

    `module_input_spec` / `module_output_spec` quantize tensors at the module's boundary
    (positions in its forward() signature / its tensor outputs); they are not allowed in
    `global_config`, which has no boundary.
    """

    op_input_spec: SpecMap | None = attrs.field(
        default=OMITTED,
        converter=_prefixed(_index_spec_map, "op_input_spec"),
        metadata=_describe(_INPUT_HELP),
    )
    op_output_spec: SpecMap | None = attrs.field(
        default=OMITTED,
        converter=_prefixed(_index_spec_map, "op_output_spec"),
        metadata=_describe(_OUTPUT_HELP),
    )
    op_state_spec: SpecMap | None = attrs.field(
        default=OMITTED,
        converter=_prefixed(_state_spec_map, "op_state_spec"),
        metadata=_describe(_STATE_HELP),
    )
    op_type_config: dict[str, OpQuantizerConfig | None] = attrs.field(
        factory=dict,
        converter=_prefixed(_op_type_map, "op_type_config"),
        metadata=_describe(_OP_TYPE_HELP),
    )
    op_name_config: dict[str, OpQuantizerConfig | None] = attrs.field(
        factory=dict,
        converter=_prefixed(_op_name_map, "op_name_config"),
        metadata=_describe(_OP_NAME_HELP),
    )
    module_input_spec: SpecMap | None = attrs.field(
        default=None,
        converter=_prefixed(_index_spec_map, "module_input_spec"),
        metadata=_describe(_MODULE_INPUT_HELP),
    )
    module_output_spec: SpecMap | None = attrs.field(
        default=None,
        converter=_prefixed(_index_spec_map, "module_output_spec"),
        metadata=_describe(_MODULE_OUTPUT_HELP),
    )
    _defaulted: frozenset[str] = attrs.field(init=False, eq=False, repr=False, factory=frozenset)

    presets: ClassVar[Any] = _PresetsAccessor()

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
        _fill_defaults(self, _TENSOR_GROUPS, _default_group)

    def has_boundary_specs(self) -> bool:
        """Whether module_input_spec or module_output_spec is set (even to an empty map)."""
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


def _check_global(value: object) -> object:
    value = _optional_instance("ModuleQuantizerConfig")(value)
    if isinstance(value, ModuleQuantizerConfig) and value.has_boundary_specs():
        field = "module_input_spec" if value.module_input_spec is not None else "module_output_spec"
        raise ConfigError(
            ErrorDetail(
                path=f"global_config.{field}",
                message=(
                    f"{field} is not allowed in global_config, which has no module boundary. "
                    "Move it under module_type_configs or module_name_configs."
                ),
            )
        )
    return value


def _convert_global(value: object) -> object:
    try:
        return _check_global(value)
    except ConfigError as error:
        if error.errors[0].path.startswith("global_config"):
            raise
        raise error.with_prefix("global_config") from None


_module_config = _optional_instance("ModuleQuantizerConfig")
_type_configs = _keyed_map(
    "module_type_configs", normalize_module_type_key, _module_config, nullable=False
)
_name_configs = _keyed_map(
    "module_name_configs", normalize_name_key, _module_config, nullable=False
)


@argument_errors
@attrs.define(eq=True, init=False, on_setattr=_track_assignment)
class QuantizerConfig:
    """The whole model's quantization config.

    Precedence per module: `module_name_configs` > `module_type_configs` > `global_config`.
    The deciding module config replaces its parent's wholesale.
    """

    global_config: ModuleQuantizerConfig | None = attrs.field(
        default=OMITTED, converter=_convert_global, metadata=_describe(_GLOBAL_HELP)
    )
    module_type_configs: dict[str, ModuleQuantizerConfig | None] = attrs.field(
        factory=dict,
        converter=_prefixed(_type_configs, "module_type_configs"),
        metadata=_describe(_MODULE_TYPE_HELP),
    )
    module_name_configs: dict[str, ModuleQuantizerConfig | None] = attrs.field(
        factory=dict,
        converter=_prefixed(_name_configs, "module_name_configs"),
        metadata=_describe(_MODULE_NAME_HELP),
    )
    execution_mode: ExecutionMode = attrs.field(
        default=ExecutionMode.GRAPH,
        converter=_convert_execution_mode,
        metadata=_describe(_EXECUTION_MODE_HELP),
    )
    _defaulted: frozenset[str] = attrs.field(init=False, eq=False, repr=False, factory=frozenset)

    presets: ClassVar[Any] = _PresetsAccessor()

    def __init__(
        self,
        global_config: object = OMITTED,
        module_type_configs: object = attrs.NOTHING,
        module_name_configs: object = attrs.NOTHING,
        execution_mode: object = ExecutionMode.GRAPH,
        **unknown: object,
    ):
        reject_unknown_keywords(type(self), unknown)
        self.__attrs_init__(
            global_config,
            {} if module_type_configs is attrs.NOTHING else module_type_configs,
            {} if module_name_configs is attrs.NOTHING else module_name_configs,
            execution_mode,
        )

    def __attrs_post_init__(self) -> None:
        _fill_defaults(self, ("global_config",), lambda name: ModuleQuantizerConfig())

    @property
    def defaulted_fields(self) -> frozenset[str]:
        """`{"global_config"}` when the global config was omitted and took its default."""
        return self._defaulted

    # Setters: each validates, changes the config in place and returns it for chaining.

    def set_global(self, config: ModuleQuantizerConfig | None) -> QuantizerConfig:
        """Replace the global config (None disables quantization outside other rules)."""
        self.global_config = config
        return self

    def set_module_type(
        self, module_type: type | str, config: ModuleQuantizerConfig | None
    ) -> QuantizerConfig:
        """Set the config for modules of `module_type` (a class or its name)."""
        self.module_type_configs = {**self.module_type_configs, module_type: config}
        return self

    def set_module_name(self, name: str, config: ModuleQuantizerConfig | None) -> QuantizerConfig:
        """Set the config for modules whose name full-matches the regular expression `name`."""
        self.module_name_configs = {**self.module_name_configs, name: config}
        return self

    def set_execution_mode(self, mode: ExecutionMode | str) -> QuantizerConfig:
        """Set how ops are captured: 'graph' (torch.export) or 'eager'."""
        self.execution_mode = mode
        return self

    def only_for(self, *targets: type | str) -> QuantizerConfig:
        """Move the global config onto the listed module types (classes) or names (strings).

        All targets are checked before anything changes.
        """
        from quantplan.quantization.targets import split_targets

        if self.global_config is None:
            raise ConfigError(
                ErrorDetail(
                    path="global_config",
                    message=(
                        "only_for() moves the global config onto targets, "
                        "but global_config is None; set it first."
                    ),
                )
            )
        types, names = split_targets(targets)
        template = self.global_config
        new_types = {**self.module_type_configs, **{key: _copy(template) for key in types}}
        new_names = {**self.module_name_configs, **{key: _copy(template) for key in names}}
        _type_configs(new_types)
        _name_configs(new_names)
        self.global_config = None
        self.module_type_configs = new_types
        self.module_name_configs = new_names
        return self

    def without(self, *targets: type | str) -> QuantizerConfig:
        """Leave the listed module types (classes) or names (strings) in float.

        All targets are checked before anything changes.
        """
        from quantplan.quantization.targets import split_targets

        types, names = split_targets(targets)
        new_types = {**self.module_type_configs, **dict.fromkeys(types)}
        new_names = {**self.module_name_configs, **dict.fromkeys(names)}
        _type_configs(new_types)
        _name_configs(new_names)
        self.module_type_configs = new_types
        self.module_name_configs = new_names
        return self

    # Loading and dumping live in quantplan.loading; these are the documented entry points.

    def validate(self) -> QuantizerConfig:
        """Check the whole config again and raise ConfigError listing every problem; return self.

        Setters and field assignments are checked when they happen, but an in-place edit
        such as `config.module_name_configs["fc"] = value` is checked only here.
        """
        from quantplan.quantization.recheck import recheck_problems

        problems = recheck_problems(self)
        if problems:
            raise ConfigError(problems)
        return self

    @classmethod
    def from_yaml(cls, source: Any) -> QuantizerConfig:
        """Load from a path, a stream or YAML text (top-level key `quantization_config`)."""
        from quantplan.loading import load_yaml

        return load_yaml(source)

    @classmethod
    def from_dict(cls, data: Mapping) -> QuantizerConfig:
        """Load from a dict with the top-level key `quantization_config`."""
        from quantplan.loading import load_dict

        return load_dict(data)

    def to_dict(self) -> dict:
        """Dump to a plain dict that `from_dict` loads back equal."""
        from quantplan.loading import dump_dict

        return dump_dict(self)

    def to_yaml(self, stream: Any = None) -> str:
        """Dump to YAML text that `from_yaml` loads back equal (also written to `stream`)."""
        from quantplan.loading import dump_yaml

        return dump_yaml(self, stream)


def _copy(config: ModuleQuantizerConfig) -> ModuleQuantizerConfig:
    import copy

    return copy.deepcopy(config)
