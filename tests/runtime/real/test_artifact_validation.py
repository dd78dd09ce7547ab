"""`load` rejects corrupted or mismatched artifacts with a PlanError naming the tensor or file."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import quantplan
from quantplan import apply_plan
from quantplan.errors import PlanError, PlanMismatchError
from quantplan.quantization.spec import QuantizationSpec

from .helpers import TwoLayer, compile_plan, fc24_plan, int4_block, weight_only


def _save(directory, plan_for=fc24_plan):
    torch.manual_seed(0)
    model = TwoLayer()
    plan = plan_for(model)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    quantplan.save(real, plan, directory)
    return real, plan


def _fp8_plan(model):
    fp8 = QuantizationSpec(dtype="float8_e4m3fn", granularity={"type": "per_channel"})
    return compile_plan(
        model, (torch.zeros(4, 64),), weight_only(int4_block(), fc1=fp8), execution_mode="eager"
    )


def _rewrite(directory, edit):
    """Apply `edit(tensors)` to weights.safetensors in place, keeping its metadata."""
    path = directory / "weights.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    edit(tensors)
    save_file(tensors, str(path), metadata=metadata)


def _set(key, index, value):
    def edit(tensors):
        tensors[key].view(-1)[index] = value

    return edit


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -1.0])
def test_load_rejects_bad_weight_scale(tmp_path, value):
    _save(tmp_path)
    _rewrite(tmp_path, _set("fc1.weight_scale", 3, value))
    with pytest.raises(PlanError) as caught:
        quantplan.load(tmp_path, TwoLayer)
    assert "fc1.weight_scale" in str(caught.value)
    assert "scales must be finite and positive" in str(caught.value)


def test_load_rejects_nan_bias(tmp_path):
    _save(tmp_path)
    _rewrite(tmp_path, _set("fc2.bias", 0, float("nan")))
    with pytest.raises(PlanError) as caught:
        quantplan.load(tmp_path, TwoLayer)
    assert "fc2.bias: tensor contains NaN" in str(caught.value)
    assert "save the artifact again" in str(caught.value)


def test_load_rejects_fp8_nan_code(tmp_path):
    _save(tmp_path, _fp8_plan)

    def edit(tensors):
        tensors["fc1.weight"].view(torch.uint8).view(-1)[5] = 0x7F

    _rewrite(tmp_path, edit)
    with pytest.raises(PlanError) as caught:
        quantplan.load(tmp_path, TwoLayer)
    assert "fc1.weight: torch.float8_e4m3fn data contains NaN or inf bytes" in str(caught.value)


def test_load_rejects_float64_scale(tmp_path):
    _save(tmp_path)

    def edit(tensors):
        tensors["fc2.weight_scale"] = tensors["fc2.weight_scale"].double()

    _rewrite(tmp_path, edit)
    with pytest.raises(PlanError) as caught:
        quantplan.load(tmp_path, TwoLayer)
    assert "fc2.weight_scale: dtype torch.float64 does not match the weight layout" in str(
        caught.value
    )


def test_load_lists_every_bad_tensor(tmp_path):
    _save(tmp_path)
    _rewrite(
        tmp_path,
        lambda tensors: [
            _set("fc1.bias", 0, float("nan"))(tensors),
            _set("fc2.weight_scale", 0, 0.0)(tensors),
        ],
    )
    with pytest.raises(PlanError) as caught:
        quantplan.load(tmp_path, TwoLayer)
    assert [detail.path for detail in caught.value.errors] == ["fc1.bias", "fc2.weight_scale"]


def test_save_rejects_zero_scale(tmp_path):
    real, plan = _save(tmp_path / "first")
    real.fc1.weight_scale[0] = 0.0
    with pytest.raises(PlanError) as caught:
        quantplan.save(real, plan, tmp_path / "second")
    assert "fc1.weight_scale" in str(caught.value)
    assert "nothing was written" in str(caught.value)
    assert not (tmp_path / "second").exists()


@pytest.mark.parametrize("damage", ["truncated", "empty", "missing"])
def test_load_reports_unreadable_weights_file(tmp_path, damage):
    _save(tmp_path)
    path = tmp_path / "weights.safetensors"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(PlanError) as caught:
        quantplan.load(tmp_path, TwoLayer)
    assert str(path) in str(caught.value)
    assert "save the artifact again" in str(caught.value)


@pytest.mark.parametrize("result", [42, (TwoLayer(), None, None), ("model", None)])
def test_load_rejects_bad_factory_result(tmp_path, result):
    _save(tmp_path)
    with pytest.raises(PlanError) as caught:
        quantplan.load(tmp_path, lambda: result)
    assert "load() needs an nn.Module or a (nn.Module, example_inputs) tuple" in str(caught.value)


def test_weights_from_other_save_name_first_tensor(tmp_path):
    _save(tmp_path)
    fc24_plan(TwoLayer(), block=64).save(tmp_path / "plan.json")
    with pytest.raises(PlanMismatchError) as caught:
        quantplan.load(tmp_path, TwoLayer)
    message = str(caught.value)
    assert "weights.safetensors and plan.json come from different saves" in message
    assert (
        "(2 differences); use the plan.json saved with these weights, or save the artifact again:"
        in message
    )
    assert (
        "- tensor fc2.weight: quantized as int4 in weights.safetensors, float in plan.json"
        in message
    )
    assert "recompile" not in message


def test_state_dict_from_other_save_names_tensor():
    model = TwoLayer()
    state = apply_plan(copy.deepcopy(model), fc24_plan(model, block=32), mode="real").state_dict()
    other = apply_plan(TwoLayer(), fc24_plan(model, block=64), mode="real")
    with pytest.raises(PlanMismatchError) as caught:
        other.load_state_dict(state, strict=True)
    message = str(caught.value)
    assert "comes from a different save" in message
    assert "- tensor fc2.weight: quantized as int4 in the state dict, float in the model" in message
    assert "recompile" not in message


def test_mismatch_message_counts_one_difference():
    assert "(1 difference); recompile the plan for this model:" in str(
        PlanMismatchError(["op added: linear_3"])
    )
