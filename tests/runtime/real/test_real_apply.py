"""Real-mode apply: packed Linear modules, kernel choices and agreement with fake quantization."""

from __future__ import annotations

import copy

import pytest
import torch

from quantplan import apply_plan, compile_plan
from quantplan.errors import PlanMismatchError
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.real import QuantizedLinear

from .helpers import TwoLayer, fc24_plan, int4_block, relative_error, weight_only


def _fake_and_real(model, plan, x):
    fake = apply_plan(copy.deepcopy(model), plan)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    with torch.no_grad():
        return fake(x), real(x), real


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_real_matches_fake_within_one_percent(mode):
    torch.manual_seed(0)
    model = TwoLayer()
    expected, actual, real = _fake_and_real(model, fc24_plan(model, mode=mode), torch.randn(4, 64))
    assert isinstance(real.fc1, QuantizedLinear)
    assert relative_error(actual, expected) < 0.01


def test_state_dict_keys_keep_linear_names():
    model = TwoLayer()
    real = apply_plan(copy.deepcopy(model), fc24_plan(model), mode="real")
    keys = [key for key in real.state_dict() if not key.endswith("_extra_state")]
    assert keys == [
        "fc1.bias",
        "fc1.weight",
        "fc1.weight_scale",
        "fc2.bias",
        "fc2.weight",
        "fc2.weight_scale",
    ]
    assert real.state_dict()["fc2.weight"].dtype == torch.uint8
    assert tuple(real.state_dict()["fc2.weight"].shape) == (64, 48)


def test_state_dict_round_trip_bit_identical():
    torch.manual_seed(1)
    model = TwoLayer()
    plan = fc24_plan(model)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    state = real.state_dict()
    fresh = apply_plan(TwoLayer(), plan, mode="real")
    fresh.load_state_dict(state, strict=True)
    x = torch.randn(3, 64)
    assert torch.equal(fresh(x), real(x))


def test_state_dict_from_other_plan_rejected():
    model = TwoLayer()
    state = apply_plan(copy.deepcopy(model), fc24_plan(model, block=32), mode="real").state_dict()
    other = apply_plan(TwoLayer(), fc24_plan(model, block=64), mode="real")
    with pytest.raises(PlanMismatchError) as caught:
        other.load_state_dict(state, strict=True)
    assert "the state dict was made under another plan" in str(caught.value)
    assert "plan sha256" in str(caught.value)


def test_changed_hidden_size_rejected_before_apply():
    plan = fc24_plan(TwoLayer())
    with pytest.raises(PlanMismatchError) as caught:
        apply_plan(TwoLayer(hidden=80), plan, mode="real")
    assert "parameter changed: fc1.weight float32[96, 64] -> float32[80, 64]" in str(caught.value)


def test_int4_block32_real_equals_fake_weight():
    torch.manual_seed(2)
    model = TwoLayer()
    plan = compile_plan(
        model, (torch.zeros(4, 64),), weight_only(int4_block(32)), execution_mode="eager"
    )
    fake = apply_plan(copy.deepcopy(model), plan)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    from quantplan.runtime.formats import dequantize

    with torch.no_grad():
        fake_weight = fake.fc2.weight
    assert torch.equal(dequantize(real.fc2.packed(), real.fc2.spec), fake_weight)
    assert real.fc2.packed().block_shape == (1, 32)


def test_per_channel_axis1_uses_same_axis():
    torch.manual_seed(3)
    model = TwoLayer(hidden=110, features=100)
    spec = QuantizationSpec(dtype="int8", granularity={"type": "per_channel", "axis": 1})
    plan = compile_plan(model, (torch.zeros(2, 100),), weight_only(spec), execution_mode="eager")
    x = torch.randn(2, 100)
    expected, actual, real = _fake_and_real(model, plan, x)
    assert tuple(real.fc1.weight_scale.shape) == (1, 100)
    assert real.fc1.kernel().choice.native is False
    assert relative_error(actual, expected) < 1e-5


@pytest.mark.parametrize(
    "spec",
    [
        QuantizationSpec(dtype="int8", granularity={"type": "per_channel"}),
        QuantizationSpec(dtype="uint8", qscheme="asymmetric", granularity={"type": "per_channel"}),
        int4_block(32),
        QuantizationSpec(dtype="float8_e4m3fn", granularity={"type": "per_channel"}),
        QuantizationSpec(
            dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 32}
        ),
    ],
)
def test_zero_and_tiny_rows_stay_finite(spec):
    model = TwoLayer(hidden=64)
    with torch.no_grad():
        model.fc1.weight[0] = 0.0
        model.fc1.weight[1] *= 1e-6
        model.fc1.weight[2] = 0.0
        model.fc1.weight[2, 5] = 0.3
    plan = compile_plan(model, (torch.zeros(2, 64),), weight_only(spec), execution_mode="eager")
    x = torch.randn(2, 64)
    expected, actual, real = _fake_and_real(model, plan, x)
    from quantplan.runtime.formats import dequantize

    weight = dequantize(real.fc1.packed(), real.fc1.spec)
    assert bool(torch.isfinite(weight).all())
    assert torch.equal(weight[0], torch.zeros(64))
    assert bool(torch.isfinite(actual).all())
    assert relative_error(actual, expected) < 0.01


def test_fp8_overflow_saturates_in_real_weight():
    model = TwoLayer(hidden=64)
    spec = QuantizationSpec(dtype="float8_e4m3fn", granularity={"type": "per_channel"})
    with torch.no_grad():
        model.fc1.weight[0, :4] = torch.tensor([447.0, 448.0, 464.0, 1e30])
    plan = compile_plan(model, (torch.zeros(2, 64),), weight_only(spec), execution_mode="eager")
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    data = real.fc1.weight.to(torch.float32)
    assert bool(torch.isfinite(data).all())
    assert float(data.abs().max()) == 448.0
