"""The equivalences that the config API reference states."""

from __future__ import annotations

import pytest
import torch.nn as nn

from quantplan.errors import ConfigError
from quantplan.quantization import (
    ModuleQuantizerConfig,
    QuantizerConfig,
    default_activation_quantization_spec,
    default_weight_quantization_spec,
)
from quantplan.quantization.config import OpQuantizerConfig


def test_three_default_forms_are_equal():
    explicit = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": default_activation_quantization_spec()},
            op_output_spec={"*": default_activation_quantization_spec()},
            op_state_spec={"weight": default_weight_quantization_spec()},
        )
    )

    assert QuantizerConfig() == QuantizerConfig(global_config=ModuleQuantizerConfig()) == explicit


def test_default_forms_differ_in_defaulted_fields():
    assert QuantizerConfig().defaulted_fields == {"global_config"}
    assert QuantizerConfig(global_config=ModuleQuantizerConfig()).defaulted_fields == frozenset()


def test_op_config_default_form():
    explicit = OpQuantizerConfig(
        op_input_spec={"*": default_activation_quantization_spec()},
        op_output_spec={"*": default_activation_quantization_spec()},
        op_state_spec={"weight": default_weight_quantization_spec()},
    )

    assert OpQuantizerConfig() == explicit


def test_chained_equals_sequential_setters():
    sequential = QuantizerConfig.presets.w4()
    sequential.set_module_type(nn.Embedding, ModuleQuantizerConfig.presets.w8())

    chained = QuantizerConfig.presets.w4().set_module_type(
        nn.Embedding, ModuleQuantizerConfig.presets.w8()
    )

    assert chained == sequential


def test_only_for_equals_setters():
    shortcut = QuantizerConfig.presets.w4().only_for(nn.Linear, nn.Conv2d)

    setters = QuantizerConfig(global_config=None)
    setters.set_module_type(nn.Linear, ModuleQuantizerConfig.presets.w4())
    setters.set_module_type(nn.Conv2d, ModuleQuantizerConfig.presets.w4())

    assert shortcut == setters


def test_without_equals_setters():
    shortcut = QuantizerConfig.presets.w4().without(nn.LayerNorm, nn.Embedding, "model.lm_head")

    setters = QuantizerConfig.presets.w4()
    setters.set_module_type(nn.LayerNorm, None)
    setters.set_module_type(nn.Embedding, None)
    setters.set_module_name("model.lm_head", None)

    assert shortcut == setters


def test_module_type_alias_normalizes():
    by_alias = QuantizerConfig(module_type_configs={"torch.nn.Linear": None})

    assert list(by_alias.module_type_configs) == ["torch.nn.modules.linear.Linear"]


def test_rule_map_none_is_rejected():
    with pytest.raises(ConfigError) as caught:
        ModuleQuantizerConfig(op_type_config=None)

    assert caught.value.errors[0].message.startswith("op_type_config must be a mapping")
