"""`QuantizerConfig`: the whole model's quantization config, its setters and targeting helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization._config_fields import (
    EXECUTION_MODE_HELP,
    GLOBAL_HELP,
    MODULE_NAME_HELP,
    MODULE_TYPE_HELP,
    PresetsAccessor,
    describe,
    fill_defaults,
    track_assignment,
)
from quantplan.quantization._map_converters import OMITTED, keyed_map, optional_instance, prefixed
from quantplan.quantization.arguments import argument_errors
from quantplan.quantization.execution_mode import ExecutionMode, convert_execution_mode
from quantplan.quantization.fields import reject_unknown_keywords
from quantplan.quantization.keys import normalize_module_type_key, normalize_name_key
from quantplan.quantization.module_config import ModuleQuantizerConfig

__all__ = ["QuantizerConfig"]


def _check_global(value: object) -> object:
    value = optional_instance(ModuleQuantizerConfig)(value)
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


_module_config = optional_instance(ModuleQuantizerConfig)
_type_configs = keyed_map(
    "module_type_configs", normalize_module_type_key, _module_config, nullable=False
)
_name_configs = keyed_map("module_name_configs", normalize_name_key, _module_config, nullable=False)


@argument_errors
@attrs.define(eq=True, init=False, on_setattr=track_assignment)
class QuantizerConfig:
    """The whole model's quantization config.

    Precedence per module: `module_name_configs` > `module_type_configs` > `global_config`.
    The deciding module config replaces its parent's wholesale.
    """

    global_config: ModuleQuantizerConfig | None = attrs.field(
        default=OMITTED, converter=_convert_global, metadata=describe(GLOBAL_HELP)
    )
    module_type_configs: dict[str, ModuleQuantizerConfig | None] = attrs.field(
        factory=dict,
        converter=prefixed(_type_configs, "module_type_configs"),
        metadata=describe(MODULE_TYPE_HELP),
    )
    module_name_configs: dict[str, ModuleQuantizerConfig | None] = attrs.field(
        factory=dict,
        converter=prefixed(_name_configs, "module_name_configs"),
        metadata=describe(MODULE_NAME_HELP),
    )
    execution_mode: ExecutionMode = attrs.field(
        default=ExecutionMode.GRAPH,
        converter=convert_execution_mode,
        metadata=describe(EXECUTION_MODE_HELP),
    )
    _defaulted: frozenset[str] = attrs.field(init=False, eq=False, repr=False, factory=frozenset)

    presets: ClassVar[Any] = PresetsAccessor()

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
        fill_defaults(self, ("global_config",), lambda name: ModuleQuantizerConfig())

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
