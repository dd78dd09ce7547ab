"""Real mode beyond nn.Linear: embeddings, convolutions, batch norm folding, unsupported sites."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from quantplan import Quantizer, apply_plan, compile_plan
from quantplan.errors import UnsupportedError
from quantplan.quantization.config import ModuleQuantizerConfig, QuantizerConfig
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.formats import dequantize
from quantplan.runtime.numerics import fake_quantize
from quantplan.runtime.real import QuantizedConv, QuantizedEmbedding, QuantizedLinear

from .helpers import int4_block, int8_channel, relative_error, weight_only

INT8 = QuantizationSpec(dtype="int8")


class ConvNet(nn.Module):
    """Embedding -> Conv1d -> BatchNorm1d -> ReLU -> mean -> Linear."""

    def __init__(self, batch_norm: bool = True):
        super().__init__()
        self.emb = nn.Embedding(50, 32)
        self.conv = nn.Conv1d(32, 32, 3, padding=1, bias=not batch_norm)
        self.bn = nn.BatchNorm1d(32) if batch_norm else nn.Identity()
        self.fc = nn.Linear(32, 16)

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(-1))


class RawLinear(nn.Module):
    """A custom module that calls F.linear on its own parameter."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(16, 32))

    def forward(self, x):
        return nn.functional.linear(x, self.weight)


def _ids():
    return (torch.randint(0, 50, (2, 7)),)


def _trained_batch_norm(model: ConvNet) -> ConvNet:
    torch.manual_seed(3)
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 2.0)
    model.bn.weight.data.uniform_(0.5, 1.5)
    model.bn.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _everything_int8() -> QuantizerConfig:
    return QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": INT8},
            op_output_spec={"*": INT8},
            op_state_spec={"weight": int8_channel()},
        )
    )


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_weight_only_conv_and_embedding_match_fake(mode):
    torch.manual_seed(0)
    model = ConvNet(batch_norm=False).eval()
    plan = compile_plan(model, _ids(), weight_only(int4_block()), execution_mode=mode)
    fake = apply_plan(copy.deepcopy(model), plan)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    ids = _ids()[0]
    assert relative_error(real(ids), fake(ids)) < 0.01


def test_eager_modules_replaced():
    model = ConvNet(batch_norm=False).eval()
    plan = compile_plan(model, _ids(), weight_only(int4_block()), execution_mode="eager")
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    assert isinstance(real.emb, QuantizedEmbedding)
    assert isinstance(real.conv, QuantizedConv)
    assert isinstance(real.fc, QuantizedLinear)


def test_embedding_rows_equal_fake_quant_exactly():
    torch.manual_seed(0)
    model = ConvNet(batch_norm=False).eval()
    plan = compile_plan(model, _ids(), weight_only(int4_block()), execution_mode="eager")
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    ids = torch.tensor([[3, 0, 49, 3]])
    expected = fake_quantize(
        model.emb.weight.detach(), int4_block(), role="weight", block_shape=(1, 32)
    ).output[ids]
    assert torch.equal(real.emb.lookup(ids), expected)


def test_conv_weight_equals_fake_quant_exactly():
    torch.manual_seed(0)
    model = ConvNet(batch_norm=False).eval()
    plan = compile_plan(model, _ids(), weight_only(int4_block()), execution_mode="eager")
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    expected = fake_quantize(
        model.conv.weight.detach(), int4_block(), role="weight", block_shape=(1, 32, 3)
    ).output
    assert torch.equal(dequantize(real.conv.packed(), int4_block()), expected)


def test_batch_norm_folded_into_conv():
    torch.manual_seed(0)
    model = _trained_batch_norm(ConvNet())
    plan = compile_plan(model, _ids(), weight_only(int8_channel()), execution_mode="eager")
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    assert isinstance(real.bn, nn.Identity)
    ids = _ids()[0]
    with torch.no_grad():
        assert relative_error(real(ids), model(ids)) < 0.02


def test_batch_norm_kept_for_float_conv():
    model = _trained_batch_norm(ConvNet())
    config = weight_only(int8_channel())
    config.set_module_name(
        "conv", ModuleQuantizerConfig(op_input_spec=None, op_output_spec=None, op_state_spec=None)
    )
    plan = compile_plan(model, _ids(), config, execution_mode="eager")
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    assert isinstance(real.bn, nn.BatchNorm1d)
    assert isinstance(real.conv, nn.Conv1d)
    assert torch.equal(real.conv.weight, model.conv.weight)


def test_raw_linear_parameter_rejected_before_change():
    model = RawLinear()
    plan = compile_plan(
        model, (torch.zeros(2, 32),), weight_only(int8_channel()), execution_mode="eager"
    )
    before = model.weight.detach().clone()
    with pytest.raises(UnsupportedError, match=r"params/weight \(op linear, linear in"):
        apply_plan(model, plan, mode="real")
    assert not hasattr(model, "parametrizations")
    assert torch.equal(model.weight, before)


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_quantizer_finalize_matches_fake(mode):
    torch.manual_seed(0)
    model = ConvNet(batch_norm=False).eval()
    config = _everything_int8()
    config.execution_mode = mode
    quantizer = Quantizer(model, config)
    prepared = quantizer.prepare(_ids())
    with quantizer.calibration_mode(), torch.no_grad():
        for _ in range(4):
            prepared(_ids()[0])
    ids = _ids()[0]
    with torch.no_grad():
        from quantplan.runtime.fake.control import freeze_activations

        freeze_activations(prepared)
        expected = prepared(ids)
    real = quantizer.finalize()
    with torch.no_grad():
        actual = real(ids)
    assert relative_error(actual, expected) < 0.01
