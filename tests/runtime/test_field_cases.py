"""Runtime behaviour on reported failure modes: reuse, degenerate weights, fp8 overflow, field sensitivity."""

from __future__ import annotations

import attrs
import pytest
import torch
from torch import nn

import fixtures.models as models
import quantplan
from quantplan.compiler import compile_plan
from quantplan.quantization.config import QuantizerConfig
from quantplan.runtime.fake import fake_quantizers
from quantplan.runtime.frozen import collect_qparams


def _config(weight=None, activation=None, mode="graph", **extra) -> QuantizerConfig:
    global_config = {
        "op_input_spec": None if activation is None else {"*": activation},
        "op_output_spec": None if activation is None else {"*": activation},
        "op_state_spec": None if weight is None else {"weight": weight},
    }
    return QuantizerConfig.from_dict(
        {"quantization_config": {"global_config": global_config, "execution_mode": mode, **extra}}
    )


def _serving(model, entry: str):
    (quantizer,) = [item for item in fake_quantizers(model) if entry in item.entries]
    return quantizer


class Reused(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x, y):
        return self.fc(x) + self.fc(100 * y)


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_reused_module_has_per_call_qparams(mode):
    torch.manual_seed(0)
    model = Reused().eval()
    inputs = (torch.rand(16, 8) * 2 - 1, torch.rand(16, 8) * 2 - 1)
    config = QuantizerConfig().set_execution_mode(mode)
    quantizer = quantplan.Quantizer(model, config)
    prepared = quantizer.prepare(inputs)
    first, second = [op.name for op in quantizer.plan.ops if op.type == "linear"]

    weights = [item for item in fake_quantizers(prepared) if item.role == "weight"]
    scale_first = _serving(prepared, f"ops/{first}/inputs/0").qparams().scale
    scale_second = _serving(prepared, f"ops/{second}/inputs/0").qparams().scale

    assert [item.key for item in weights] == ["params/fc.weight"]
    assert len(weights[0].entries) == 2
    assert 50 < float(scale_second / scale_first) < 200


def _degenerate_linear(dtype: torch.dtype) -> nn.Linear:
    torch.manual_seed(0)
    layer = nn.Linear(64, 32)
    with torch.no_grad():
        layer.weight[0] = 0
        layer.weight[1] *= 1e-6
        layer.weight[2] = 0
        layer.weight[2, 5] = 0.3
    return layer.to(dtype).eval()


DEGENERATE_SPECS = {
    "int8_per_channel": {"dtype": "int8", "granularity": {"type": "per_channel"}},
    "uint8_asymmetric": {
        "dtype": "uint8",
        "qscheme": "asymmetric",
        "granularity": {"type": "per_channel"},
    },
    "int4_per_block": {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 32}},
    "fp8_per_row": {"dtype": "float8_e4m3fn", "granularity": {"type": "per_channel"}},
    "mxfp4": {
        "dtype": "float4_e2m1fn_x2",
        "granularity": {"type": "per_block", "block_size": 32},
        "scale_dtype": "float8_e8m0fnu",
    },
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("name", list(DEGENERATE_SPECS))
def test_zero_and_tiny_rows_stay_finite(name, dtype):
    model = _degenerate_linear(dtype)
    inputs = (torch.randn(4, 64, dtype=dtype),)
    plan = compile_plan(model, inputs, _config(weight=DEGENERATE_SPECS[name]))
    prepared = quantplan.apply_plan(model, plan)
    weight = _serving(prepared, "ops/linear/state/weight")
    with torch.no_grad():
        output = prepared(*inputs)
        folded = weight(prepared.get_parameter("weight"))
    qparams = collect_qparams(prepared)

    assert torch.isfinite(output).all()
    assert torch.equal(folded[0], torch.zeros_like(folded[0]))
    assert all(torch.isfinite(value.float()).all() for value in qparams.values())
    assert (qparams["params/weight/scale"] > 0).all()


def test_fp8_activation_saturates():
    model = nn.Linear(4, 4).eval()
    fp8 = {"dtype": "float8_e4m3fn", "qparam_calculator_cls": "global_minmax"}
    calibration = (torch.randn(64, 4),)
    quantizer = quantplan.Quantizer(model, _config(activation=fp8))
    prepared = quantizer.prepare(calibration)
    activation = _serving(prepared, "ops/linear/inputs/0")
    scale = activation.qparams().scale
    values = torch.tensor([[1000.0, 3e10, float("inf"), float("-inf")]])

    with torch.no_grad():
        quantized = activation(values)
        output = prepared(10 * torch.randn(64, 4))

    assert torch.equal(quantized, torch.tensor([[448.0, 448.0, 448.0, -448.0]]) * scale)
    assert torch.isfinite(output).all()


BASE_WEIGHT = {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 32, "axis": 1}}
BASE_ACTIVATION = {"dtype": "int8", "qparam_calculator_cls": "moving_average"}
FIELD_CHANGES = {
    "block_size": ({"granularity": {"type": "per_block", "block_size": 16, "axis": 1}}, {}),
    "axis": ({"granularity": {"type": "per_block", "block_size": 32, "axis": 0}}, {}),
    "qscheme": ({"qscheme": "asymmetric"}, {}),
    "dtype": ({"dtype": "int8"}, {}),
    "qparam_calculator_cls": ({}, {"qparam_calculator_cls": "global_minmax"}),
    "range_calculator_cls": ({"range_calculator_cls": "mse"}, {}),
}


def _fake_quant_run(weight: dict, activation: dict):
    torch.manual_seed(0)
    model = nn.Linear(64, 64).eval()
    batches = [(torch.randn(4, 64) * scale,) for scale in (1.0, 8.0, 0.5)]
    plan = compile_plan(model, batches[0], _config(weight=weight, activation=activation))
    prepared = quantplan.apply_plan(model, plan)
    quantplan.calibrate(prepared, batches, progress=False)
    quantplan.runtime.fake.freeze_activations(prepared)
    with torch.no_grad():
        output = prepared(batches[0][0])
    return plan.to_json(), output


@pytest.mark.parametrize("field", list(FIELD_CHANGES))
def test_spec_field_changes_output_and_plan(field):
    weight_change, activation_change = FIELD_CHANGES[field]
    base_json, base_output = _fake_quant_run(BASE_WEIGHT, BASE_ACTIVATION)
    json, output = _fake_quant_run(
        {**BASE_WEIGHT, **weight_change}, {**BASE_ACTIVATION, **activation_change}
    )

    assert json != base_json
    assert not torch.equal(output, base_output)


class Toy(nn.Module):
    """Module names from a multimodal model: a vision tower, attention and a gate."""

    def __init__(self):
        super().__init__()
        self.vision_tower = nn.Module()
        self.vision_tower.blocks = nn.ModuleList([nn.Module()])
        self.vision_tower.blocks[0].fc = nn.Linear(8, 8)
        self.text = nn.Module()
        self.text.layers = nn.ModuleList([nn.Module()])
        layer = self.text.layers[0]
        layer.self_attn = nn.Module()
        layer.self_attn.q_proj = nn.Linear(8, 8)
        layer.attn_gate = nn.Linear(8, 8)
        layer.mlp = nn.Module()
        layer.mlp.fc1 = nn.Linear(8, 8)

    def forward(self, x):
        layer = self.text.layers[0]
        x = self.vision_tower.blocks[0].fc(x)
        return layer.mlp.fc1(layer.attn_gate(layer.self_attn.q_proj(x)))


def _toy_plan():
    w8 = {"dtype": "int8", "granularity": {"type": "per_channel"}}
    w4 = {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 8}}
    config = _config(
        weight=w8,
        module_name_configs={
            r"vision_tower\..*": None,
            "attn_gate": None,
            "attn": {
                "op_input_spec": None,
                "op_output_spec": None,
                "op_state_spec": {"weight": w4},
            },
        },
    )
    model = Toy().eval()
    return model, compile_plan(model, (torch.randn(2, 8),), config)


def test_runtime_applies_resolved_entries():
    model, plan = _toy_plan()
    prepared = quantplan.apply_plan(model, plan)
    weights = {item.key: item.resolved.dtype for item in fake_quantizers(prepared)}

    assert weights == {
        "params/text.layers.0.self_attn.q_proj.weight": "int8",
        "params/text.layers.0.attn_gate.weight": "int8",
        "params/text.layers.0.mlp.fc1.weight": "int8",
    }


def test_runtime_follows_edited_plan():
    model, plan = _toy_plan()
    ops = []
    for op in plan.ops:
        state = {
            key: attrs.evolve(entry, spec=None) if "q_proj" in (entry.param or "") else entry
            for key, entry in op.state.items()
        }
        ops.append(attrs.evolve(op, state=state))
    edited = attrs.evolve(plan, ops=tuple(ops))
    prepared = quantplan.apply_plan(model, edited)

    assert "params/text.layers.0.self_attn.q_proj.weight" not in {
        item.key for item in fake_quantizers(prepared)
    }


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_expert_param_scales_per_expert_row(mode, tmp_path):
    torch.manual_seed(0)
    model, inputs = models.make_experts_net()
    model.eval()
    experts = {"dtype": "int8", "granularity": {"type": "per_block", "block_size": [1, 1, -1]}}
    w8 = {"dtype": "int8", "granularity": {"type": "per_channel"}}
    config = QuantizerConfig.from_dict(
        {"quantization_config": {"execution_mode": mode, "global_config": {
            "op_input_spec": None, "op_output_spec": None, "op_state_spec": {"weight": w8, "experts": experts},
        }}}
    )  # fmt: skip
    quantizer = quantplan.Quantizer(model, config)
    prepared = quantizer.prepare(inputs)
    quantizer.freeze(tmp_path)
    fresh, _ = models.make_experts_net()
    fresh.load_state_dict(model.state_dict() if mode == "graph" else prepared.state_dict())
    rebuilt = quantplan.apply_plan(
        fresh.eval(), quantplan.Plan.load(tmp_path / "plan.json"), qparams=tmp_path
    )

    assert collect_qparams(prepared)["params/experts/scale"].shape == (4, 16, 1)
    assert collect_qparams(rebuilt)["params/experts/scale"].shape == (4, 16, 1)
    with torch.no_grad():
        assert torch.equal(rebuilt(*inputs), prepared(*inputs))


def test_nan_calibration_counted_not_in_scale():
    model = nn.Linear(4, 4).eval()
    quantizer = quantplan.Quantizer(model, _config(activation={"dtype": "int8"}))
    prepared = quantizer.prepare((torch.randn(8, 4),))
    batch = torch.randn(8, 4)
    batch[0, 0] = float("nan")
    batch[3, 2] = float("nan")

    report = quantplan.calibrate(prepared, [(batch,)], progress=False)
    scales = [value for key, value in collect_qparams(prepared).items() if key.endswith("/scale")]

    assert report.nan_counts == {"ops/linear/inputs/0": 2, "ops/linear/outputs/0": 8}
    assert (
        report.diagnostics[0]
        == "ops/linear/inputs/0: 2 NaN and 0 inf values in calibration data were ignored by the range"
    )
    assert all(torch.isfinite(scale).all() for scale in scales)
