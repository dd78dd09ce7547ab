"""copy.deepcopy of an eager-mode prepared model gives an independent model with equal outputs."""

from __future__ import annotations

import copy

import torch
from torch import nn

import quantplan
from quantplan import Quantizer, QuantizerConfig
from quantplan.runtime.fake import fake_quantizers

from .test_module_boundaries import CrossAttention, _boundary_config, _inputs


class ConvLinear(nn.Module):
    """Conv2d, ReLU and a Linear head, so the plan has weight and activation sites."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        features = torch.relu(self.conv(x))
        return self.head(features.mean((2, 3)))


def _batch() -> tuple[torch.Tensor]:
    return (torch.randn(2, 3, 8, 8),)


def _prepared(calibrate: bool = True) -> tuple[Quantizer, nn.Module]:
    torch.manual_seed(0)
    config = QuantizerConfig.presets.w8a8()
    config.execution_mode = "eager"
    quantizer = Quantizer(ConvLinear().eval(), config)
    prepared = quantizer.prepare(_batch())
    if calibrate:
        quantizer.calibrate([_batch() for _ in range(3)], progress=False)
    return quantizer, prepared


def test_deepcopy_matches_original():
    _, prepared = _prepared()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = prepared(x)

    copied = copy.deepcopy(prepared)
    with torch.no_grad():
        first = copied(x)
        second = copied(x)
        original_after = prepared(x)

    assert torch.equal(first, expected)
    assert torch.equal(second, expected)
    assert torch.equal(original_after, expected)


def test_deepcopy_of_copy_matches():
    _, prepared = _prepared()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = prepared(x)

    second_copy = copy.deepcopy(copy.deepcopy(prepared))
    with torch.no_grad():
        actual = second_copy(x)

    assert torch.equal(actual, expected)


def test_deepcopy_has_own_quantizers():
    _, prepared = _prepared()
    copied = copy.deepcopy(prepared)

    original_ids = {id(quantizer) for quantizer in fake_quantizers(prepared)}
    copied_ids = {id(quantizer) for quantizer in fake_quantizers(copied)}

    assert copied_ids
    assert original_ids.isdisjoint(copied_ids)


def test_deepcopy_weights_are_independent():
    _, prepared = _prepared()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = prepared(x)
    copied = copy.deepcopy(prepared)

    with torch.no_grad():
        copied.head.parametrizations.weight.original.mul_(2.0)
        copied_output = copied(x)
        original_output = prepared(x)

    assert torch.equal(original_output, expected)
    assert not torch.equal(copied_output, expected)


def test_deepcopy_before_calibration():
    _, prepared = _prepared(calibrate=False)
    copied = copy.deepcopy(prepared)
    batches = [_batch() for _ in range(3)]
    x = torch.randn(2, 3, 8, 8)

    quantplan.calibrate(prepared, batches, progress=False)
    quantplan.calibrate(copied, batches, progress=False)
    with torch.no_grad():
        expected = prepared(x)
        actual = copied(x)

    assert torch.equal(actual, expected)


def test_deepcopy_keeps_module_boundaries():
    quantizer = Quantizer(CrossAttention().eval(), _boundary_config("eager"))
    prepared = quantizer.prepare(_inputs())
    inputs = _inputs()
    with torch.no_grad():
        expected = prepared(*inputs)

    copied = copy.deepcopy(prepared)
    with torch.no_grad():
        actual = copied(*inputs)

    assert torch.equal(actual, expected)
