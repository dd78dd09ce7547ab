"""Omitted vs null vs empty, key typing and scalar typing when loading YAML and dicts."""

from __future__ import annotations

import io

import pytest
import torch

from quantplan.errors import ConfigError
from quantplan.quantization import ModuleQuantizerConfig, QuantizationSpec, QuantizerConfig
from quantplan.quantization.config import OpQuantizerConfig


def load(text: str) -> QuantizerConfig:
    return QuantizerConfig.from_yaml(text)


def test_omitted_group_takes_default_and_is_recorded():
    config = load("quantization_config:\n  global_config:\n    op_input_spec: null\n")

    assert config.global_config.op_input_spec is None
    assert config.global_config.op_state_spec == ModuleQuantizerConfig().op_state_spec
    assert config.global_config.defaulted_fields == {"op_output_spec", "op_state_spec"}


def test_empty_yaml_value_disables_group():
    config = load("quantization_config:\n  global_config:\n    op_output_spec:\n")

    assert config.global_config.op_output_spec is None
    assert "op_output_spec" not in config.global_config.defaulted_fields


def test_empty_map_quantizes_nothing():
    config = load("quantization_config:\n  global_config:\n    op_input_spec: {}\n")

    assert config.global_config.op_input_spec == {}


def test_module_empty_mapping_is_default_config():
    config = load("quantization_config:\n  module_type_configs:\n    Linear: {}\n    Conv2d:\n")

    assert config.module_type_configs["Linear"] == ModuleQuantizerConfig()
    assert config.module_type_configs["Conv2d"] is None


def test_global_config_omitted_null_and_empty():
    omitted = load("quantization_config: {}\n")
    disabled = load("quantization_config:\n  global_config: null\n")
    empty = load("quantization_config:\n  global_config: {}\n")

    assert omitted.defaulted_fields == {"global_config"}
    assert disabled.global_config is None
    assert empty.global_config == ModuleQuantizerConfig()
    assert empty.defaulted_fields == frozenset()


def test_digit_keys_become_ints_in_index_maps():
    config = load(
        "quantization_config:\n  global_config:\n    op_input_spec:\n"
        '      "0": {dtype: int8}\n      1: null\n      "*": {dtype: uint8}\n'
    )

    assert list(config.global_config.op_input_spec) == [0, 1, "*"]


def test_name_keys_stay_strings():
    config = load("quantization_config:\n  module_name_configs:\n    '2': null\n")

    assert list(config.module_name_configs) == ["2"]


def test_integer_name_key_is_rejected():
    with pytest.raises(ConfigError) as caught:
        load("quantization_config:\n  module_name_configs:\n    2: null\n")

    assert caught.value.errors[0].path == "module_name_configs[2]"
    assert "quote it" in caught.value.errors[0].message


def test_exponent_without_dot_is_float():
    config = load(
        "quantization_config:\n  global_config:\n    op_input_spec:\n"
        '      "*": {dtype: int8, float_range: [-1e-5, 1e5]}\n'
    )

    assert config.global_config.op_input_spec["*"].float_range == (-1e-05, 100000.0)


@pytest.mark.parametrize("spelling", ["int4", "torch.int4", '"torch.int4"'])
def test_dtype_spellings_normalize(spelling):
    config = load(
        "quantization_config:\n  global_config:\n    op_state_spec:\n"
        f"      weight: {{dtype: {spelling}}}\n"
    )

    assert config.global_config.op_state_spec["weight"].dtype == torch.int4


def test_quint8_means_uint8():
    assert QuantizationSpec(dtype="quint8") == QuantizationSpec(dtype="uint8")


def test_path_source_and_stream_source(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("quantization_config:\n  global_config: null\n")

    assert QuantizerConfig.from_yaml(str(path)).global_config is None
    assert QuantizerConfig.from_yaml(path).global_config is None
    assert QuantizerConfig.from_yaml(io.StringIO(path.read_text())).global_config is None


def test_missing_yaml_path_is_config_error(tmp_path):
    missing = str(tmp_path / "absent.yaml")

    with pytest.raises(ConfigError) as caught:
        QuantizerConfig.from_yaml(missing)

    assert str(caught.value) == (
        f"<root>: cannot read config file {missing}: No such file or directory."
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the document is empty; it needs a quantization_config mapping."),
        ("- 1\n", "the document must be a mapping with the key quantization_config, got a list."),
        ("a: [1\n", "invalid YAML: while parsing a flow sequence expected ',' or ']', but got"),
        (
            "quantization_config: null\n",
            "quantization_config is null; write {} for the default config,",
        ),
    ],
)
def test_bad_documents_raise_config_error(text, message):
    with pytest.raises(ConfigError) as caught:
        load(text)

    assert caught.value.errors[0].message.startswith(message)


def test_from_dict_rejects_non_mapping():
    with pytest.raises(ConfigError) as caught:
        QuantizerConfig.from_dict(["quantization_config"])

    assert caught.value.errors[0].message.startswith("the document must be a mapping")


def test_yaml_tag_is_rejected():
    with pytest.raises(ConfigError) as caught:
        load("quantization_config:\n  execution_mode: !!python/name:os.system x\n")

    assert "YAML tag" in caught.value.errors[0].message


def test_error_in_alias_is_reported_at_anchor():
    text = (
        "quantization_spec:\n"
        "  a: &a\n"
        "    dtype: int9\n"
        "quantization_config:\n"
        "  global_config:\n"
        "    op_input_spec: {'*': *a}\n"
        "    op_output_spec: {'*': *a}\n"
    )

    with pytest.raises(ConfigError) as caught:
        load(text)

    assert len(caught.value.errors) == 1
    assert str(caught.value.errors[0].position) == "<string>:3:12"


def test_errors_are_collected_and_sorted():
    text = (
        "quantization_config:\n"
        "  module_name_configs:\n"
        "    b: {op_input_spec: {x: null}}\n"
        "  global_config:\n"
        "    op_state_spec: {weight: {dtype: int9}}\n"
    )

    with pytest.raises(ConfigError) as caught:
        load(text)

    assert [detail.path for detail in caught.value.errors] == [
        'global_config.op_state_spec["weight"].dtype',
        'module_name_configs["b"].op_input_spec["x"]',
    ]


def test_single_quoted_and_escaped_double_quoted_regex_agree():
    single = load("quantization_config:\n  module_name_configs:\n    'layers\\.1\\..*': null\n")
    double = load('quantization_config:\n  module_name_configs:\n    "layers\\\\.1\\\\..*": null\n')
    plain = load("quantization_config:\n  module_name_configs:\n    layers\\.1\\..*: null\n")

    assert list(single.module_name_configs) == ["layers\\.1\\..*"]
    assert list(double.module_name_configs) == list(single.module_name_configs)
    assert list(plain.module_name_configs) == list(single.module_name_configs)


def test_double_quoted_single_backslash_regex_fails_loudly():
    with pytest.raises(ConfigError) as caught:
        load('quantization_config:\n  module_name_configs:\n    "layers\\.1\\..*": null\n')

    assert "unknown escape character '.'" in caught.value.errors[0].message


def test_op_config_loads_from_dict():
    config = QuantizerConfig.from_dict(
        {
            "quantization_config": {
                "global_config": {"op_type_config": {"concat": {"op_output_spec": None}}}
            }
        }
    )

    op_config = config.global_config.op_type_config["concat"]
    assert op_config == OpQuantizerConfig(op_output_spec=None)
    assert op_config.defaulted_fields == {"op_input_spec", "op_state_spec"}
