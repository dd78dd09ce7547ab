"""Real mode on a model whose root module is itself the quantized layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import quantplan
from quantplan import Quantizer, QuantizerConfig
from quantplan.errors import UnsupportedError
from quantplan.runtime.real.linear import QuantizedLinear
from tests.runtime.real.helpers import relative_error


def _config(preset: str, mode: str) -> QuantizerConfig:
    config = getattr(QuantizerConfig.presets, preset)()
    config.execution_mode = mode
    return config


def _layer() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(64, 32).eval()


def test_root_linear_finalize_eager():
    inputs = (torch.randn(4, 64),)
    quantizer = Quantizer(_layer(), _config("w8a8", "eager"))
    prepared = quantizer.prepare(inputs)
    with torch.no_grad():
        fake = prepared(*inputs)

    real = quantizer.finalize()

    assert isinstance(real, QuantizedLinear)
    with torch.no_grad():
        assert relative_error(real(*inputs), fake) < 0.01


def test_root_linear_apply_plan_real_eager():
    layer, inputs = _layer(), (torch.randn(4, 64),)
    plan = quantplan.compile_plan(layer, inputs, _config("w8", "eager"))

    real = quantplan.apply_plan(layer, plan, mode="real")

    assert isinstance(real, QuantizedLinear)
    with torch.no_grad():
        assert relative_error(real(*inputs), layer(*inputs)) < 0.01


def test_root_linear_load_round_trip(tmp_path):
    layer, inputs = _layer(), (torch.randn(4, 64),)
    plan = quantplan.compile_plan(layer, inputs, _config("w8", "eager"))
    real = quantplan.apply_plan(layer, plan, mode="real")
    quantplan.save(real, plan, tmp_path)

    loaded = quantplan.load(tmp_path, lambda: (nn.Linear(64, 32), inputs))

    with torch.no_grad():
        assert torch.equal(loaded(*inputs), real(*inputs))


def test_root_linear_graph_mode_rejected():
    layer, inputs = _layer(), (torch.randn(4, 64),)
    plan = quantplan.compile_plan(layer, inputs, _config("w8", "graph"))

    with pytest.raises(UnsupportedError, match="root module is the quantized layer"):
        quantplan.apply_plan(layer, plan, mode="real")
