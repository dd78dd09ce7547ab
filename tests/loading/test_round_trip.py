"""Dumped configs load back equal, keep omitted groups omitted, and satisfy the schema."""

from __future__ import annotations

import jsonschema
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantplan.quantization import (
    ModuleQuantizerConfig,
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
    QuantizationSpec,
    QuantizerConfig,
)
from quantplan.quantization.config import OpQuantizerConfig
from quantplan.schema import config_schema
from quantplan.schema.validate import to_json_data

PRESETS = ["w8", "w4", "w4_per_block", "w8a8", "w4a8", "fp8", "mxfp4"]
VALIDATOR = jsonschema.Draft7Validator(config_schema())


def assert_round_trips(config: QuantizerConfig) -> None:
    from_yaml = QuantizerConfig.from_yaml(config.to_yaml())
    from_dict = QuantizerConfig.from_dict(config.to_dict())
    assert from_yaml == config
    assert from_dict == config
    assert from_yaml.defaulted_fields == config.defaulted_fields
    assert list(VALIDATOR.iter_errors(to_json_data(config.to_dict()))) == []


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trips(name):
    assert_round_trips(getattr(QuantizerConfig.presets, name)())


def test_default_config_dumps_empty():
    assert QuantizerConfig().to_dict() == {"quantization_config": {}}


def test_omitted_groups_are_not_written():
    config = QuantizerConfig(global_config=ModuleQuantizerConfig(op_input_spec=None))

    assert config.to_dict() == {"quantization_config": {"global_config": {"op_input_spec": None}}}


def test_to_yaml_writes_stream(tmp_path):
    path = tmp_path / "out.yaml"
    with path.open("w") as stream:
        text = QuantizerConfig.presets.w4().to_yaml(stream)

    assert path.read_text() == text


def test_defaulted_group_changed_in_place_is_written():
    config = QuantizerConfig()
    config.global_config.op_input_spec["*"] = QuantizationSpec(dtype="uint8")

    assert QuantizerConfig.from_dict(config.to_dict()) == config


# -- generated configs ------------------------------------------------------------------

granularities = st.one_of(
    st.just(PerTensorGranularity()),
    st.builds(PerChannelGranularity, axis=st.none() | st.integers(-2, 3)),
    st.builds(
        PerBlockGranularity,
        block_size=st.integers(1, 256),
        axis=st.none() | st.integers(0, 3),
    ),
    st.builds(
        PerBlockGranularity,
        block_size=st.lists(st.sampled_from([1, 4, -1]), min_size=1, max_size=3).map(tuple),
    ),
)


@st.composite
def specs(draw):
    dtype = draw(st.sampled_from([torch.int8, torch.uint8, torch.int4, torch.int2]))
    scheme = draw(st.sampled_from(["symmetric", "symmetric_with_clipping", "asymmetric"]))
    low = draw(st.none() | st.floats(-1e6, 0.0))
    high = draw(st.none() | st.floats(1e-6, 1e6))
    return QuantizationSpec(
        dtype=dtype,
        qscheme=scheme,
        qformulation=draw(st.sampled_from(["zp", "minval"])),
        granularity=draw(granularities),
        qparam_calculator_cls=draw(st.sampled_from(["default", "static", "moving_average"])),
        range_calculator_cls=draw(st.sampled_from(["minmax", "mse"])),
        float_range=(low, high),
    )


optional_specs = st.none() | specs()
index_maps = st.none() | st.dictionaries(
    st.integers(0, 3) | st.just("*"), optional_specs, max_size=3
)
state_maps = st.none() | st.dictionaries(
    st.sampled_from(["weight", "bias", "*"]), optional_specs, max_size=2
)
names = st.sampled_from(["fc1", "layers\\.[0-9]+", "encoder.(q|k)_proj", "2", "lm_head"])


def _with_groups(cls, draw, **extra):
    kwargs = dict(extra)
    for name, strategy in (
        ("op_input_spec", index_maps),
        ("op_output_spec", index_maps),
        ("op_state_spec", state_maps),
    ):
        if draw(st.booleans()):
            kwargs[name] = draw(strategy)
    return cls(**kwargs)


@st.composite
def op_configs(draw):
    return _with_groups(OpQuantizerConfig, draw)


@st.composite
def module_configs(draw, boundary=True):
    extra = {
        "op_type_config": draw(
            st.dictionaries(
                st.sampled_from(["linear", "add", "softmax"]), st.none() | op_configs(), max_size=2
            )
        ),
        "op_name_config": draw(st.dictionaries(names, st.none() | op_configs(), max_size=2)),
    }
    if boundary:
        extra["module_input_spec"] = draw(index_maps)
        extra["module_output_spec"] = draw(index_maps)
    return _with_groups(ModuleQuantizerConfig, draw, **extra)


@st.composite
def quantizer_configs(draw):
    kwargs = {
        "module_type_configs": draw(
            st.dictionaries(
                st.sampled_from(["torch.nn.Linear", "Conv2d", "mymodelSelfAttention"]),
                st.none() | module_configs(),
                max_size=2,
            )
        ),
        "module_name_configs": draw(
            st.dictionaries(names, st.none() | module_configs(), max_size=2)
        ),
        "execution_mode": draw(st.sampled_from(["graph", "eager"])),
    }
    if draw(st.booleans()):
        kwargs["global_config"] = draw(st.none() | module_configs(boundary=False))
    return QuantizerConfig(**kwargs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quantizer_configs())
def test_generated_config_round_trips(config):
    assert_round_trips(config)
