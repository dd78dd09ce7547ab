"""Real mode for HF GPT-2 `Conv1D` (addmm over an [in, out] weight) and nn.ConvTranspose2d."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from quantplan import apply_plan, compile_plan
from quantplan.runtime.numerics import fake_quantize, resolve_block_shape

from .helpers import int8_channel, relative_error, weight_only

Conv1D = pytest.importorskip("transformers.pytorch_utils").Conv1D


class GPT2MLP(nn.Module):
    """GPT-2's MLP: Conv1D(32 -> 64) -> GELU -> Conv1D(64 -> 32); weights are [in, out]."""

    def __init__(self):
        super().__init__()
        self.c_fc = Conv1D(64, 32)
        self.c_proj = Conv1D(32, 64)

    def forward(self, x):
        return self.c_proj(nn.functional.gelu(self.c_fc(x)))


class Upsample(nn.Module):
    """ConvTranspose2d(8 -> 4, kernel 3, stride 2) -> ReLU."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return torch.relu(self.up(x))


def _random_init(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for parameter in model.parameters():
        parameter.data.normal_(0, 0.2)
    return model.eval()


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_gpt2_conv1d_matches_fake(mode):
    model = _random_init(GPT2MLP())
    x = torch.randn(2, 5, 32)
    plan = compile_plan(model, (x,), weight_only(int8_channel()), execution_mode=mode)
    fake = apply_plan(copy.deepcopy(model), plan)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    assert relative_error(real(x), fake(x)) < 1e-5


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_gpt2_conv1d_weight_keeps_in_out_layout(mode):
    model = _random_init(GPT2MLP())
    x = torch.randn(2, 5, 32)
    plan = compile_plan(model, (x,), weight_only(int8_channel()), execution_mode=mode)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    assert tuple(real.get_submodule("c_fc").weight.shape) == (32, 64)


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_conv_transpose2d_matches_fake(mode):
    model = _random_init(Upsample())
    x = torch.randn(2, 8, 5, 5)
    plan = compile_plan(model, (x,), weight_only(int8_channel()), execution_mode=mode)
    fake = apply_plan(copy.deepcopy(model), plan)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    assert real(x).shape == (2, 4, 9, 9)
    assert relative_error(real(x), fake(x)) < 1e-5


def test_conv_transpose2d_weight_equals_fake_quant():
    model = _random_init(Upsample())
    x = torch.randn(2, 8, 5, 5)
    plan = compile_plan(model, (x,), weight_only(int8_channel()), execution_mode="eager")
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    spec = plan.op(plan.ops[0].name).state["weight"].spec
    block = resolve_block_shape(model.up.weight.shape, spec.to_quantization_spec(), "weight")
    expected = fake_quantize(
        model.up.weight.detach(), spec.to_quantization_spec(), role="weight", block_shape=block
    ).output
    assert torch.equal(real.get_submodule("up").dequantized_weight(), expected)
