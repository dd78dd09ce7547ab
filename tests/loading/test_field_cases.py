"""Unknown keys and scalar typing behave alike through YAML, dict and Python constructors."""

from __future__ import annotations

import pytest
import torch

from quantplan.errors import ConfigError
from quantplan.quantization import ModuleQuantizerConfig, QuantizationSpec, QuantizerConfig

GRANULATITY_YAML = """\
quantization_config:
  global_config:
    op_state_spec:
      weight:
        dtype: int4
        granulatity: per_block
"""


def _single(error: ConfigError):
    assert len(error.errors) == 1
    return error.errors[0]


def test_misspelt_spec_key_yaml():
    with pytest.raises(ConfigError) as caught:
        QuantizerConfig.from_yaml(GRANULATITY_YAML)

    detail = _single(caught.value)
    assert detail.path == 'global_config.op_state_spec["weight"].granulatity'
    assert detail.suggestion == "granularity"
    assert str(detail.position) == "<string>:6:9"


def test_misspelt_spec_key_dict():
    data = {
        "quantization_config": {
            "global_config": {"op_state_spec": {"weight": {"granulatity": "per_block"}}}
        }
    }

    with pytest.raises(ConfigError) as caught:
        QuantizerConfig.from_dict(data)

    detail = _single(caught.value)
    assert detail.path == 'global_config.op_state_spec["weight"].granulatity'
    assert detail.suggestion == "granularity"
    assert detail.position is None


def test_misspelt_spec_key_python():
    with pytest.raises(ConfigError) as caught:
        QuantizationSpec(dtype="int4", granulatity="per_block")

    detail = _single(caught.value)
    assert detail.path == "granulatity"
    assert detail.suggestion == "granularity"


def test_misspelt_block_size_every_route():
    yaml_text = (
        "quantization_config:\n  global_config:\n    op_state_spec:\n      weight:\n"
        "        granularity: {type: per_block, blocksize: 32}\n"
    )
    data = {
        "quantization_config": {
            "global_config": {
                "op_state_spec": {"weight": {"granularity": {"type": "per_block", "blocksize": 32}}}
            }
        }
    }
    routes = [lambda: QuantizerConfig.from_yaml(yaml_text), lambda: QuantizerConfig.from_dict(data)]
    for route in routes:
        with pytest.raises(ConfigError) as caught:
            route()
        paths = {detail.path: detail for detail in caught.value.errors}
        typo = paths['global_config.op_state_spec["weight"].granularity.blocksize']
        assert typo.suggestion == "block_size"
    with pytest.raises(ConfigError) as caught:
        QuantizationSpec(granularity={"type": "per_block", "blocksize": 32})
    assert caught.value.errors[0].suggestion == "block_size"


def test_plural_op_type_configs_every_route():
    yaml_text = "quantization_config:\n  module_name_configs:\n    fc:\n      op_type_configs: {}\n"
    data = {"quantization_config": {"module_name_configs": {"fc": {"op_type_configs": {}}}}}
    for route in (
        lambda: QuantizerConfig.from_yaml(yaml_text),
        lambda: QuantizerConfig.from_dict(data),
    ):
        with pytest.raises(ConfigError) as caught:
            route()
        detail = _single(caught.value)
        assert detail.path == 'module_name_configs["fc"].op_type_configs'
        assert detail.suggestion == "op_type_config"
    with pytest.raises(ConfigError) as caught:
        ModuleQuantizerConfig(op_type_configs={})
    assert _single(caught.value).suggestion == "op_type_config"


def test_weight_spec_at_top_level_every_route():
    spec = {"dtype": "int4"}
    with pytest.raises(ConfigError) as caught:
        QuantizerConfig.from_dict({"quantization_config": {"weight": spec}})
    assert _single(caught.value).path == "weight"
    with pytest.raises(ConfigError) as caught:
        QuantizerConfig.from_yaml("quantization_config:\n  weight: {dtype: int4}\n")
    assert str(_single(caught.value).position) == "<string>:2:3"
    with pytest.raises(ConfigError) as caught:
        QuantizerConfig(weight=QuantizationSpec(dtype="int4"))
    assert _single(caught.value).message.startswith("unknown key 'weight' in QuantizerConfig")


@pytest.mark.parametrize("spelling", ["int4", "torch.int4", torch.int4])
def test_dtype_spellings_every_route(spelling):
    text = str(spelling).removeprefix("torch.") if isinstance(spelling, torch.dtype) else spelling
    from_yaml = QuantizerConfig.from_yaml(
        "quantization_config:\n  global_config:\n    op_state_spec:\n"
        f"      weight: {{dtype: {text}}}\n"
    )
    from_dict = QuantizerConfig.from_dict(
        {
            "quantization_config": {
                "global_config": {"op_state_spec": {"weight": {"dtype": spelling}}}
            }
        }
    )
    from_python = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_state_spec={"weight": QuantizationSpec(dtype=spelling)}
        )
    )

    assert from_yaml == from_dict == from_python


def test_int_keyed_map_survives_json_round_trip():
    import json

    config = QuantizerConfig.from_yaml(
        "quantization_config:\n  global_config:\n    op_input_spec:\n"
        "      0: {dtype: int8}\n      1: null\n"
    )

    reloaded = QuantizerConfig.from_dict(json.loads(json.dumps(config.to_dict())))

    assert list(reloaded.global_config.op_input_spec) == [0, 1]
    assert reloaded == config


def test_mixed_int_and_name_keys_rejected_every_route():
    spec = {"dtype": "int8"}
    data = {"quantization_config": {"global_config": {"op_input_spec": {0: spec, "x": spec}}}}
    with pytest.raises(ConfigError) as caught:
        QuantizerConfig.from_dict(data)
    assert _single(caught.value).path == 'global_config.op_input_spec["x"]'
    with pytest.raises(ConfigError):
        ModuleQuantizerConfig(op_input_spec={0: QuantizationSpec(), "x": QuantizationSpec()})


def test_digit_collision_rejected_every_route():
    spec = {"dtype": "int8"}
    data = {"quantization_config": {"global_config": {"op_input_spec": {0: spec, "0": spec}}}}
    with pytest.raises(ConfigError) as caught:
        QuantizerConfig.from_dict(data)
    assert (
        _single(caught.value).message
        == "keys 0 and '0' name the same entry; keep only one of them."
    )
    with pytest.raises(ConfigError) as caught:
        ModuleQuantizerConfig(op_input_spec={0: QuantizationSpec(), "0": QuantizationSpec()})
    assert "name the same entry" in _single(caught.value).message
