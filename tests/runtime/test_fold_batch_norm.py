"""finalize(backend="torch") folds batch norm into the quantized conv before it."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

from quantplan import Quantizer, QuantizerConfig


class ConvBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def _model():
    torch.manual_seed(0)
    model = ConvBatchNorm()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


def _calibrated(mode: str, config: QuantizerConfig | None = None) -> Quantizer:
    config = config or QuantizerConfig(execution_mode=mode)
    quantizer = Quantizer(_model(), config)
    quantizer.prepare((torch.randn(4, 3, 16, 16),))
    quantizer.calibrate([(torch.randn(4, 3, 16, 16),) for _ in range(3)], progress=False)
    return quantizer


def _has_batch_norm(model: nn.Module) -> bool:
    if isinstance(model, fx.GraphModule):
        return any("batch_norm" in str(node.target) for node in model.graph.nodes)
    return any(isinstance(module, nn.BatchNorm2d) for module in model.modules())


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_folded_matches_prepared(mode):
    quantizer = _calibrated(mode)
    inputs = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        expected = quantizer.prepared_model(inputs)

    finalized = quantizer.finalize(backend="torch")
    with torch.no_grad():
        actual = finalized(inputs)

    assert not _has_batch_norm(finalized)
    # The folded weight is quantized with its own scale, so outputs agree to a few steps.
    assert torch.allclose(actual, expected, atol=0.05 * float(expected.abs().max()))


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_float_conv_keeps_batch_norm(mode):
    config = QuantizerConfig(execution_mode=mode, module_name_configs={"conv": None})
    quantizer = _calibrated(mode, config)
    weight = quantizer.prepared_model.get_parameter("conv.weight").detach().clone()

    finalized = quantizer.finalize(backend="torch")

    assert _has_batch_norm(finalized)
    assert torch.equal(finalized.get_parameter("conv.weight"), weight)
