"""QuantizedLinear.dequantized_weight() for every kernel that w8, w4, w8a8 and fp8 select."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantplan import Quantizer, QuantizerConfig
from quantplan.runtime.real.linear import QuantizedLinear


@pytest.mark.parametrize("preset", ["w8", "w4", "w8a8", "fp8"])
def test_dequantized_weight_equals_fake_weight(preset):
    torch.manual_seed(0)
    config = getattr(QuantizerConfig.presets, preset)()
    config.execution_mode = "eager"
    quantizer = Quantizer(nn.Sequential(nn.Linear(64, 32)).eval(), config)
    prepared = quantizer.prepare((torch.randn(4, 64),))
    fake_weight = prepared[0].weight.detach().clone()

    real = quantizer.finalize()
    layer = next(module for module in real.modules() if isinstance(module, QuantizedLinear))

    assert torch.equal(layer.dequantized_weight(), fake_weight)
