"""The Python constructors raise ConfigError with the same paths as the dict route."""

from __future__ import annotations

import pytest
import torch

import quantplan
from quantplan.errors import ConfigError
from quantplan.quantization.config import (
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QuantizerConfig,
)
from quantplan.quantization.granularity import (
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
)
from quantplan.quantization.spec import QuantizationSpec


def _paths(call) -> list[str]:
    with pytest.raises(ConfigError) as info:
        call()
    return [detail.path for detail in info.value.errors]


def test_spec_map_key_path_names_field():
    paths = _paths(lambda: ModuleQuantizerConfig(op_input_spec={"x": QuantizationSpec()}))

    assert paths == ['op_input_spec["x"]']


def test_spec_map_not_mapping_path():
    paths = _paths(lambda: ModuleQuantizerConfig(op_input_spec=[1]))

    assert paths == ["op_input_spec"]


def test_module_config_path_matches_dict_route():
    python_route = lambda: ModuleQuantizerConfig(op_state_spec={"weight": 5})  # noqa: E731
    dict_route = lambda: QuantizerConfig.from_dict(  # noqa: E731
        {"quantization_config": {"global_config": {"op_state_spec": {"weight": 5}}}}
    )

    assert _paths(python_route) == ['op_state_spec["weight"]']
    assert _paths(dict_route) == ['global_config.op_state_spec["weight"]']


def test_per_block_without_block_size():
    with pytest.raises(ConfigError) as info:
        PerBlockGranularity()

    assert str(info.value.errors[0].format()) == (
        "block_size: PerBlockGranularity needs the argument block_size, such as block_size=32."
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: PerTensorGranularity(3),
        lambda: PerChannelGranularity(0, 1),
        lambda: PerBlockGranularity(32, 1, 2),
        lambda: QuantizationSpec("int8"),
        lambda: OpQuantizerConfig(None, None, None, None),
        lambda: ModuleQuantizerConfig(*[None] * 8),
        lambda: QuantizerConfig(*[None] * 5),
    ],
)
def test_too_many_positional_arguments(call):
    with pytest.raises(ConfigError, match="positional arguments"):
        call()


def test_unknown_granularity_keyword():
    with pytest.raises(ConfigError) as info:
        PerBlockGranularity(block_size=32, axes=1)

    detail = info.value.errors[0]
    assert detail.path == "axes"
    assert detail.suggestion == "axis"


def test_argument_by_position_and_keyword():
    paths = _paths(lambda: PerBlockGranularity(32, block_size=16))

    assert paths == ["block_size"]


def test_validate_finds_in_place_edits():
    config = QuantizerConfig()
    config.module_name_configs["["] = ModuleQuantizerConfig()
    config.module_type_configs["torch.nn.Linear"] = 5

    assert _paths(config.validate) == [
        'module_name_configs["["]',
        'module_type_configs["torch.nn.Linear"]',
    ]


def test_validate_finds_nested_edits():
    config = QuantizerConfig(module_name_configs={"fc": ModuleQuantizerConfig()})
    config.module_name_configs["fc"].op_input_spec["x"] = QuantizationSpec()

    assert _paths(config.validate) == ['module_name_configs["fc"].op_input_spec["x"]']


def test_validate_returns_valid_config():
    config = QuantizerConfig(module_name_configs={"fc": None})

    assert config.validate() is config


def test_compile_plan_validates_config():
    config = QuantizerConfig()
    config.module_name_configs["["] = ModuleQuantizerConfig()
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))

    with pytest.raises(ConfigError, match="invalid regular expression"):
        quantplan.compile_plan(model, (torch.zeros(1, 4),), config)
