"""Module type keys that name no module class, and float_range bounds that are not finite."""

from __future__ import annotations

import pytest

from quantplan.errors import ConfigError
from quantplan.quantization.config import ModuleQuantizerConfig, QuantizerConfig
from quantplan.quantization.spec import QuantizationSpec


def _type_key_error(key: str):
    with pytest.raises(ConfigError) as info:
        QuantizerConfig(module_type_configs={key: ModuleQuantizerConfig()})
    return info.value.errors[0]


def test_type_key_not_module_class():
    detail = _type_key_error("torch.Tensor")

    assert detail.path == 'module_type_configs["torch.Tensor"]'
    assert "it names a class that is not an nn.Module subclass" in detail.message


def test_type_key_function_rejected():
    detail = _type_key_error("os.path.join")

    assert "it names a function that is not an nn.Module subclass" in detail.message


def test_type_key_torch_typo_suggests():
    detail = _type_key_error("torch.nn.Lineer")

    assert "'torch.nn' has no module class of that name" in detail.message
    assert detail.suggestion == "torch.nn.Linear"


def test_type_key_outside_torch_kept():
    config = QuantizerConfig(module_type_configs={"mypackage.blocks.Block": None})

    assert list(config.module_type_configs) == ["mypackage.blocks.Block"]


@pytest.mark.parametrize(
    "float_range",
    [[float("nan"), 1.0], [-1.0, float("inf")], [float("-inf"), float("inf")], [-(10**400), 1]],
)
def test_float_range_not_finite(float_range):
    with pytest.raises(ConfigError) as info:
        QuantizationSpec(float_range=float_range)

    assert info.value.errors[0].message.endswith(
        "each entry must be a finite number or null; NaN and infinity are not allowed."
    )
