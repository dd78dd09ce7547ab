"""Batch norm folding in real mode for graph-mode plans, compared with eager mode and fake quant."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import fx, nn

import quantplan
from quantplan import Quantizer, apply_plan, compile_plan
from quantplan.quantization.config import ModuleQuantizerConfig, QuantizerConfig
from quantplan.quantization.spec import QuantizationSpec

from .helpers import int4_block, int8_channel, relative_error, weight_only

INT8 = QuantizationSpec(dtype="int8")


class ConvBatchNormNet(nn.Module):
    """Conv2d -> BatchNorm2d -> ReLU -> spatial mean -> Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(32)
        self.head = nn.Linear(32, 8)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def _model() -> ConvBatchNormNet:
    torch.manual_seed(0)
    model = ConvBatchNormNet()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


def _inputs(seed: int) -> torch.Tensor:
    return torch.randn(2, 32, 8, 8, generator=torch.Generator().manual_seed(seed))


def _w8a8(mode: str) -> QuantizerConfig:
    return QuantizerConfig(
        execution_mode=mode,
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": INT8},
            op_output_spec={"*": INT8},
            op_state_spec={"weight": int8_channel()},
        ),
    )


def _w4(mode: str) -> QuantizerConfig:
    config = weight_only(int4_block(32))
    config.execution_mode = mode
    return config


CONFIGS = {"w8a8": _w8a8, "w4": _w4}


def _calibrated(config: QuantizerConfig) -> Quantizer:
    quantizer = Quantizer(_model(), config)
    quantizer.prepare((_inputs(0),))
    quantizer.calibrate([(_inputs(seed),) for seed in range(1, 4)], progress=False)
    return quantizer


def _batch_norm_nodes(model: fx.GraphModule) -> list[fx.Node]:
    return [node for node in model.graph.nodes if "batch_norm" in str(node.target)]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_graph_finalize_folds_batch_norm(name):
    inputs = _inputs(10)
    graph = _calibrated(CONFIGS[name]("graph"))
    with torch.no_grad():
        fake = graph.prepared_model(inputs)

    real = graph.finalize()

    assert isinstance(real, fx.GraphModule)
    assert _batch_norm_nodes(real) == []
    with torch.no_grad():
        assert relative_error(real(inputs), fake) < 0.02


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_graph_finalize_matches_eager(name):
    inputs = _inputs(10)
    graph_real = _calibrated(CONFIGS[name]("graph")).finalize()
    eager_real = _calibrated(CONFIGS[name]("eager")).finalize()

    with torch.no_grad():
        torch.testing.assert_close(graph_real(inputs), eager_real(inputs), rtol=1e-5, atol=1e-5)


def test_graph_fold_keeps_float_model():
    model = _model()
    before = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    plan = compile_plan(model, (_inputs(0),), weight_only(int8_channel()), execution_mode="graph")

    apply_plan(model, plan, mode="real")

    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert model.conv.bias is None


def test_graph_float_conv_keeps_batch_norm():
    model = _model()
    config = weight_only(int8_channel())
    config.set_module_name(
        "conv", ModuleQuantizerConfig(op_input_spec=None, op_output_spec=None, op_state_spec=None)
    )
    plan = compile_plan(model, (_inputs(0),), config, execution_mode="graph")
    inputs = _inputs(10)

    real = apply_plan(copy.deepcopy(model), plan, mode="real")

    assert len(_batch_norm_nodes(real)) == 1
    assert torch.equal(real.conv.weight, model.conv.weight)
    with torch.no_grad():
        assert relative_error(real(inputs), model(inputs)) < 0.02


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_graph_folded_artifact_round_trip(tmp_path, name):
    quantizer = _calibrated(CONFIGS[name]("graph"))
    real = quantizer.finalize()
    quantplan.save(real, quantizer.plan, tmp_path)
    inputs = _inputs(10)

    loaded = quantplan.load(tmp_path, lambda: (ConvBatchNormNet(), (_inputs(0),)))

    assert _batch_norm_nodes(loaded) == []
    with torch.no_grad():
        assert torch.equal(loaded(inputs), real(inputs))
