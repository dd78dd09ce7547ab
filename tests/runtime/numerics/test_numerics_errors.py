"""Rejected specs, invalid layouts and non-finite data raise errors that name the tensor."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from quantplan.errors import ConfigError, PlanError
from quantplan.quantization.granularity import PerChannelGranularity
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime import fake_quantize, make_observer

REJECTED = json.loads((Path(__file__).parent / "data" / "rejected_specs.json").read_text())[
    "rejected"
]
CONSTRUCTION = [entry for entry in REJECTED if entry["stage"] == "quantizer_construction"]
FIRST_USE = [entry for entry in REJECTED if entry["stage"] == "first_use"]


def entry_id(entry: dict) -> str:
    spec = entry["spec"]
    granularity = json.dumps(spec["granularity"])
    return f"{entry['role']}-{granularity}-{spec['qparam_calculator_cls']}"


@pytest.mark.parametrize("entry", CONSTRUCTION, ids=[entry_id(entry) for entry in CONSTRUCTION])
def test_construction_rejects(entry):
    spec_fields = dict(entry["spec"])
    try:
        spec = QuantizationSpec(**spec_fields)
    except ConfigError:
        return  # the spec itself already rejects it, which is earlier still
    with pytest.raises(ConfigError, match="fc1"):
        make_observer(spec, role=entry["role"], name="fc1")


@pytest.mark.parametrize("entry", FIRST_USE, ids=[entry_id(entry) for entry in FIRST_USE])
def test_first_use_rejects(entry):
    spec = QuantizationSpec(**entry["spec"])
    x = torch.randn(entry["input_shape"])
    with pytest.raises(PlanError, match=r"^fc1\.weight: "):
        fake_quantize(x, spec, role=entry["role"], name="fc1.weight")
    observer = make_observer(spec, role=entry["role"], name="fc1.weight")
    with pytest.raises(PlanError, match=r"^fc1\.weight: "):
        observer.observe(x)


def test_dynamic_weight_message():
    spec = QuantizationSpec(qparam_calculator_cls="dynamic")
    with pytest.raises(ConfigError) as caught:
        make_observer(spec, role="weight", name="fc1.weight")
    assert str(caught.value) == (
        "fc1.weight.qparam_calculator_cls: the dynamic calculator is for activations only, "
        "but this "
        "quantizer is for a weight; use 'static' (or 'default') for weights."
    )


def test_block_not_dividing_message():
    spec = QuantizationSpec(granularity={"type": "per_block", "axis": 1, "block_size": 5})
    with pytest.raises(PlanError) as caught:
        fake_quantize(torch.randn(4, 16), spec, role="weight", name="fc1.weight")
    assert str(caught.value) == (
        "fc1.weight: block size 5 does not divide dimension 1 of size 16 (tensor shape [4, 16]). "
        "Choose a block size that divides 16, or leave this tensor unquantized."
    )


def test_axis_out_of_range_message():
    spec = QuantizationSpec(granularity={"type": "per_channel", "axis": 2})
    with pytest.raises(PlanError) as caught:
        fake_quantize(torch.randn(4, 16), spec, role="weight", name="fc1.weight")
    assert str(caught.value) == (
        "fc1.weight: per_channel axis 2 is out of range for a tensor of shape [4, 16] (rank 2); "
        "use an axis in [-2, 1]."
    )


def test_invalid_role():
    with pytest.raises(ConfigError, match="invalid role 'bias'"):
        make_observer(QuantizationSpec(), role="bias", name="fc1.bias")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_weight_rejected(bad):
    weight = torch.randn(4, 8)
    weight[2, 3] = bad
    spec = QuantizationSpec(granularity={"type": "per_channel", "axis": 0})
    with pytest.raises(PlanError, match=r"^fc1\.weight: the weight contains non-finite values"):
        fake_quantize(weight, spec, role="weight", name="fc1.weight")


def test_nonfinite_static_weight_observer_rejected():
    weight = torch.randn(4, 8)
    weight[0, 0] = float("nan")
    observer = make_observer(QuantizationSpec(), role="weight", name="fc1.weight")
    with pytest.raises(PlanError, match="1 NaN, 0 inf"):
        observer.observe(weight)


def test_observer_without_data_raises():
    observer = make_observer(QuantizationSpec(), role="activation", name="ops/linear_1/inputs/0")
    with pytest.raises(PlanError) as caught:
        observer.qparams()
    assert str(caught.value) == (
        "ops/linear_1/inputs/0: the observer has seen no data, so it has no qparams. Run "
        "calibration batches that reach this tensor, or load calibrated qparams."
    )


def test_observer_nan_ignored_and_counted(caplog):
    observer = make_observer(QuantizationSpec(), role="activation", name="relu_out")
    clean = torch.tensor([[1.0, -2.0, 0.5, 0.25]])
    dirty = torch.tensor([[float("nan"), -2.0, 0.5, float("nan")]])
    with caplog.at_level(logging.WARNING, logger="quantplan.runtime.numerics.observers"):
        observer.observe(clean)
        observer.observe(dirty)
        observer.observe(dirty)
    scale, _ = observer.qparams()
    assert observer.nan_count == 4
    assert torch.isfinite(scale).all()
    assert torch.isfinite(observer.running_min).all()
    assert torch.isfinite(observer.running_max).all()
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == (
        "relu_out: calibration data contains non-finite values (2 NaN, 0 inf in this batch); "
        "the range ignores them."
    )


def test_static_observer_nan_only_batch_ignored():
    observer = make_observer(
        QuantizationSpec(qparam_calculator_cls="static"), role="activation", name="x"
    )
    observer.observe(torch.tensor([[1.0, -2.0, 0.5]]))
    observer.observe(torch.full((2, 3), float("nan")))
    scale, zero_point = observer.qparams()
    assert scale.item() == pytest.approx(2.0 / 127.5)
    assert zero_point.item() == 0


def test_activation_nan_does_not_reach_scale():
    x = torch.tensor([[1.0, float("nan"), -3.0, 2.0]])
    result = fake_quantize(x, QuantizationSpec(), role="activation")
    assert result.scale.item() == (torch.tensor(3.0) / 127.5).item()
    assert torch.isnan(result.output[0, 1])


def test_empty_tensor_rejected():
    with pytest.raises(PlanError) as caught:
        fake_quantize(torch.empty(0, 8), QuantizationSpec(), role="activation", name="x")
    assert str(caught.value) == "x: cannot compute a range of an empty tensor (shape [0, 8])."


def test_observer_all_nan_batch_keeps_state():
    observer = make_observer(QuantizationSpec(), role="activation", name="x")
    reference = make_observer(QuantizationSpec(), role="activation", name="x")
    clean = torch.tensor([[1.0, -2.0, 0.5, 0.25]])
    observer.observe(torch.full((1, 4), float("nan")))
    observer.observe(clean)
    reference.observe(clean)
    assert observer.running_min is not None
    assert torch.equal(observer.running_min, reference.running_min)
    assert torch.equal(observer.running_max, reference.running_max)
    assert observer.nan_count == 4


def test_observer_inf_ignored_like_nan(caplog):
    observer = make_observer(QuantizationSpec(), role="activation", name="relu_out")
    with caplog.at_level(logging.WARNING, logger="quantplan.runtime.numerics.observers"):
        observer.observe(torch.tensor([[1.0, float("inf"), -2.0, float("-inf")]]))
    assert observer.running_min.item() == -2.0
    assert observer.running_max.item() == 1.0
    assert observer.inf_count == 2
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "relu_out: calibration data contains non-finite values (0 NaN, 2 inf in this batch); "
        "the range ignores them."
    ]


def test_observer_nonfinite_block_keeps_range():
    spec = QuantizationSpec(granularity=PerChannelGranularity(axis=0))
    observer = make_observer(spec, role="activation", name="x")
    observer.observe(torch.tensor([[1.0, -1.0], [4.0, -4.0]]))
    observer.observe(torch.tensor([[float("nan"), float("inf")], [2.0, -2.0]]))
    assert observer.running_max[0].item() == 1.0
    assert observer.running_max[1].item() == pytest.approx(0.01 * 2.0 + 0.99 * 4.0)
