"""`compile_plan` accepts the config forms that `Quantizer` accepts."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

from quantplan import QuantizerConfig, compile_plan
from quantplan.errors import ConfigError


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)).eval()


INPUTS = (torch.randn(2, 16),)


@pytest.fixture(scope="module")
def expected_ops():
    plan = compile_plan(_model(), INPUTS, QuantizerConfig.presets.w8a8())
    return plan.to_json()


def _config_forms(tmp_path):
    data = QuantizerConfig.presets.w8a8().to_dict()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return {"dict": data, "path": path, "path string": str(path), "yaml text": yaml.safe_dump(data)}


@pytest.mark.parametrize("form", ["dict", "path", "path string", "yaml text"])
def test_compile_plan_config_forms(tmp_path, expected_ops, form):
    plan = compile_plan(_model(), INPUTS, _config_forms(tmp_path)[form])
    assert plan.to_json() == expected_ops


def test_compile_plan_none_is_default_config():
    plan = compile_plan(_model(), INPUTS, None)
    assert plan.to_json() == compile_plan(_model(), INPUTS, QuantizerConfig()).to_json()


@pytest.mark.parametrize(("config", "type_name"), [(42, "int"), ([1, 2], "list")])
def test_compile_plan_rejects_other_types(config, type_name):
    with pytest.raises(ConfigError) as caught:
        compile_plan(_model(), INPUTS, config)
    assert (
        f"config must be a QuantizerConfig, a dict, or a YAML path or text, got {type_name}."
        in str(caught.value)
    )
