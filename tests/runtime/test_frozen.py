"""Frozen plans: freeze after calibration, rebuild a fresh model without data, reject others' qparams."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

import fixtures.models as models
import quantplan
from quantplan.compiler import compile_plan
from quantplan.errors import PlanError
from quantplan.quantization.config import QuantizerConfig
from quantplan.runtime.frozen import collect_qparams

MODES = ["graph", "eager"]


def _calibrated(mode: str, factory=models.make_conv_net, tmp_path=None):
    torch.manual_seed(0)
    model, example_inputs = factory()
    model.eval()
    state = {key: value.clone() for key, value in model.state_dict().items()}
    quantizer = quantplan.Quantizer(model, QuantizerConfig().set_execution_mode(mode))
    prepared = quantizer.prepare(example_inputs)
    batches = [tuple(_like(tensor) for tensor in example_inputs) for _ in range(3)]
    quantplan.calibrate(prepared, batches, progress=False)
    return quantizer, prepared, example_inputs, state, factory


def _like(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.is_floating_point():
        return torch.randn_like(tensor)
    return torch.randint_like(tensor, 0, int(tensor.max()) + 1)


def _fresh(factory, state):
    model, _ = factory()
    model.load_state_dict(state)
    return model.eval()


@pytest.mark.parametrize("mode", MODES)
def test_frozen_plan_rebuilds_outputs(mode, tmp_path):
    quantizer, prepared, example_inputs, state, factory = _calibrated(mode)
    quantizer.freeze(tmp_path)
    rebuilt = quantplan.apply_plan(
        _fresh(factory, state), quantplan.Plan.load(tmp_path / "plan.json"), qparams=tmp_path
    )

    with torch.no_grad():
        expected = prepared(*example_inputs)
        actual = rebuilt(*example_inputs)

    assert torch.equal(actual, expected)


def test_frozen_files_and_keys(tmp_path):
    quantizer, *_ = _calibrated("graph")
    quantizer.freeze(tmp_path)

    with safe_open(str(tmp_path / "qparams.safetensors"), framework="pt") as handle:
        keys = set(handle.keys())
        metadata = handle.metadata()

    assert (tmp_path / "plan.json").is_file()
    assert metadata["plan_sha256"] == quantizer.plan.sha256()
    assert "params/encoder.0.weight/scale" in keys
    assert "params/encoder.0.weight/zero_point" in keys
    assert "ops/conv2d/inputs/0/scale" in keys
    assert all(key.startswith(("params/", "ops/", "modules/")) for key in keys)


def test_qparams_accepts_file_and_dict(tmp_path):
    quantizer, prepared, example_inputs, state, factory = _calibrated("graph")
    quantizer.freeze(tmp_path)
    plan = quantizer.plan
    from_file = quantplan.apply_plan(
        _fresh(factory, state), plan, qparams=tmp_path / "qparams.safetensors"
    )
    from_dict = quantplan.apply_plan(
        _fresh(factory, state), plan, qparams=collect_qparams(prepared)
    )

    with torch.no_grad():
        assert torch.equal(from_file(*example_inputs), from_dict(*example_inputs))


def test_qparams_of_other_plan_rejected(tmp_path):
    quantizer, _, _, state, factory = _calibrated("graph")
    quantizer.freeze(tmp_path)
    model, example_inputs = factory()
    other = compile_plan(
        model.eval(),
        example_inputs,
        QuantizerConfig.from_dict(
            {"quantization_config": {"global_config": {"op_input_spec": None}}}
        ),
    )

    with pytest.raises(
        PlanError,
        match=r"these qparams were frozen for plan sha256 [0-9a-f]{64}, but the plan being applied has sha256",
    ):
        quantplan.apply_plan(_fresh(factory, state), other, qparams=tmp_path)


def test_qparams_dict_with_unknown_key_rejected():
    quantizer, prepared, _, state, factory = _calibrated("graph")
    qparams = collect_qparams(prepared)
    qparams["ops/nonexistent/inputs/0/scale"] = torch.ones(1)

    with pytest.raises(
        PlanError,
        match="qparams key ops/nonexistent/inputs/0/scale belongs to no quantizer of this plan",
    ):
        quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=qparams)


def test_qparams_dict_missing_key_rejected():
    quantizer, prepared, _, state, factory = _calibrated("graph")
    qparams = collect_qparams(prepared)
    del qparams["ops/conv2d/inputs/0/scale"]

    with pytest.raises(
        PlanError,
        match=r"qparams for ops/conv2d/inputs/0 are missing \(ops/conv2d/inputs/0/scale\)",
    ):
        quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=qparams)


def test_missing_qparams_file_rejected(tmp_path):
    quantizer, _, _, state, factory = _calibrated("graph")

    with pytest.raises(PlanError, match="qparams file not found"):
        quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=tmp_path)


def test_tied_weight_keyed_by_first_path():
    _, prepared, *_ = _calibrated("graph", models.make_tied_embeddings)
    keys = collect_qparams(prepared)

    assert "params/embed.weight/scale" in keys
    assert not any(key.startswith("params/lm_head.weight") for key in keys)


SCALE_KEY = "ops/conv2d/inputs/0/scale"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_invalid_scale_rejected(bad):
    quantizer, prepared, _, state, factory = _calibrated("graph")
    qparams = collect_qparams(prepared)
    qparams[SCALE_KEY] = torch.full_like(qparams[SCALE_KEY], bad)

    with pytest.raises(PlanError) as caught:
        quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=qparams)
    assert str(caught.value).startswith(f"{SCALE_KEY}: the scale must be finite and positive")


def test_zero_point_out_of_range_rejected():
    quantizer, prepared, _, state, factory = _calibrated("graph")
    qparams = collect_qparams(prepared)
    key = SCALE_KEY.replace("scale", "zero_point")
    qparams[key] = torch.full_like(qparams[key], 300)

    with pytest.raises(PlanError) as caught:
        quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=qparams)
    assert (
        str(caught.value)
        == f"{key}: the zero point must lie in [-128, 127], got values from 300 to 300."
    )


@pytest.mark.parametrize("bad", [0.5, -2.25, float("nan"), float("inf")])
def test_non_integer_zero_point_rejected(bad):
    quantizer, prepared, _, state, factory = _calibrated("graph")
    qparams = collect_qparams(prepared)
    key = SCALE_KEY.replace("scale", "zero_point")
    qparams[key] = torch.full(qparams[key].shape, bad, dtype=torch.float32)

    with pytest.raises(PlanError) as caught:
        quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=qparams)
    assert str(caught.value) == (
        f"{key}: the zero point must contain only finite integers, but it contains {bad}. "
        "Round the zero points to integers (Quantizer.freeze stores them as int32), "
        "or recalibrate and freeze again."
    )


def test_fractional_weight_zero_point_rejected():
    quantizer, prepared, _, state, factory = _calibrated("graph")
    qparams = collect_qparams(prepared)
    key = next(
        name for name in qparams if name.startswith("params/") and name.endswith("/zero_point")
    )
    zero_point = qparams[key].to(torch.float32)
    zero_point.view(-1)[-1] = 3.5
    qparams[key] = zero_point
    assert zero_point.numel() > 1

    with pytest.raises(PlanError) as caught:
        quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=qparams)
    assert str(caught.value).startswith(
        f"{key}: the zero point must contain only finite integers, but it contains 3.5."
    )


def test_integral_float_zero_point_accepted():
    quantizer, prepared, example_inputs, state, factory = _calibrated("graph")
    qparams = collect_qparams(prepared)
    key = SCALE_KEY.replace("scale", "zero_point")
    qparams[key] = qparams[key].to(torch.float32)

    rebuilt = quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=qparams)
    with torch.no_grad():
        expected = prepared(*example_inputs)
        actual = rebuilt(*example_inputs)

    assert torch.equal(actual, expected)


def test_weight_scale_shape_rejected(tmp_path):
    quantizer, prepared, _, state, factory = _calibrated("graph")
    qparams = collect_qparams(prepared)
    key = next(name for name in qparams if name.startswith("params/") and name.endswith("/scale"))
    qparams[key] = torch.ones(3, 5)

    with pytest.raises(
        PlanError, match=f"{key}: the scale has shape \\[3, 5\\], but the plan expects"
    ):
        quantplan.apply_plan(_fresh(factory, state), quantizer.plan, qparams=qparams)
