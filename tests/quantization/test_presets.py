"""Presets expand to the documented recipes and behave as ordinary configs."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from quantplan.quantization import (
    ModuleQuantizerConfig,
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
    QuantizationSpec,
    QuantizerConfig,
    default_activation_quantization_spec,
    default_weight_quantization_spec,
)

INT8_ACT = default_activation_quantization_spec()
FP8 = QuantizationSpec(dtype=torch.float8_e4m3fn, granularity=PerTensorGranularity())


def int4(block_size: int = 32) -> QuantizationSpec:
    return QuantizationSpec(
        dtype=torch.int4, granularity=PerBlockGranularity(block_size=block_size)
    )


EXPECTED = {
    "w8": (default_weight_quantization_spec(), None),
    "w4": (int4(), None),
    "w8a8": (default_weight_quantization_spec(), INT8_ACT),
    "w4a8": (int4(), INT8_ACT),
    "fp8": (FP8, FP8),
    "mxfp4": (
        QuantizationSpec(
            dtype=torch.float4_e2m1fn_x2,
            granularity=PerBlockGranularity(block_size=32),
            scale_dtype=torch.float8_e8m0fnu,
        ),
        FP8,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_module_preset_expansion(name):
    weight, activation = EXPECTED[name]
    config = getattr(ModuleQuantizerConfig.presets, name)()

    assert config.op_state_spec == {"weight": weight}
    assert config.op_input_spec == (None if activation is None else {"*": activation})
    assert config.op_output_spec == (None if activation is None else {"*": activation})
    assert config.defaulted_fields == frozenset()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quantizer_preset_wraps_module_preset(name):
    config = getattr(QuantizerConfig.presets, name)()

    assert config.global_config == getattr(ModuleQuantizerConfig.presets, name)()
    assert config.defaulted_fields == frozenset()


def test_w4_per_block_takes_block_size():
    config = ModuleQuantizerConfig.presets.w4_per_block(block_size=128)

    assert config.op_state_spec == {"weight": int4(128)}
    assert QuantizerConfig.presets.w4_per_block(block_size=64).global_config.op_state_spec == {
        "weight": int4(64)
    }


def test_w8a8_equals_default_values():
    assert ModuleQuantizerConfig.presets.w8a8() == ModuleQuantizerConfig()


def test_mxfp4_matches_first_doc_example():
    fp8_activation = QuantizationSpec(dtype=torch.float8_e4m3fn)
    mxfp4_weight = QuantizationSpec(
        dtype=torch.float4_e2m1fn_x2,
        granularity=PerBlockGranularity(block_size=32),
        scale_dtype=torch.float8_e8m0fnu,
    )
    documented = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": fp8_activation},
            op_output_spec={"*": fp8_activation},
            op_state_spec={"weight": mxfp4_weight},
        )
    )

    assert QuantizerConfig.presets.mxfp4() == documented


def test_presets_are_fresh_objects():
    first = QuantizerConfig.presets.w4()
    first.set_module_type(nn.Embedding, None)

    assert QuantizerConfig.presets.w4().module_type_configs == {}


def test_setters_work_on_presets():
    config = QuantizerConfig.presets.w4().set_module_type(
        nn.Embedding, ModuleQuantizerConfig.presets.w8()
    )

    key = "torch.nn.modules.sparse.Embedding"
    assert config.module_type_configs[key].op_state_spec == {
        "weight": QuantizationSpec(dtype=torch.int8, granularity=PerChannelGranularity())
    }


def test_unknown_preset_raises_attribute_error():
    with pytest.raises(AttributeError):
        QuantizerConfig.presets.w3()
