"""Every example of the config API reference runs, and each YAML twin loads equal."""

from __future__ import annotations

import pytest

from quantplan.quantization import QuantizerConfig

from .config_api_doc import python_blocks, run_python, runnable_without_model, twins, yaml_blocks

PYTHON = [block for block in python_blocks() if not block.exempt]
TWINS = twins()


def test_doc_has_the_expected_blocks():
    assert len(python_blocks()) >= 20
    assert len(yaml_blocks()) >= 10
    assert len(TWINS) >= 10
    exempt = [block for block in python_blocks() if block.exempt]
    assert len(exempt) == 3
    assert "{...}" in exempt[0].text
    assert "MyModel" in exempt[1].text
    assert "ModelInspector" in exempt[2].text


@pytest.mark.parametrize("block", PYTHON, ids=lambda block: f"line{block.line}")
def test_python_example_runs(block):
    run_python(block)


@pytest.mark.parametrize("pair", TWINS, ids=lambda pair: f"line{pair[1].line}")
def test_yaml_example_equals_python_twin(pair):
    python, yaml = pair
    if python.exempt:
        python = runnable_without_model(python)
    expected = run_python(python)["config"]

    loaded = QuantizerConfig.from_yaml(yaml.text)

    assert loaded == expected
    assert loaded.defaulted_fields == expected.defaulted_fields


@pytest.mark.parametrize("block", yaml_blocks(), ids=lambda block: f"line{block.line}")
def test_yaml_example_round_trips(block):
    config = QuantizerConfig.from_yaml(block.text)

    assert QuantizerConfig.from_yaml(config.to_yaml()) == config
    assert QuantizerConfig.from_dict(config.to_dict()) == config
