"""save -> load into a fresh model on the meta device, and rejection of mismatched artifacts."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors import safe_open

import quantplan
from quantplan import apply_plan
from quantplan.errors import PlanMismatchError

from .helpers import TwoLayer, fc24_plan


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = TwoLayer()
    plan = fc24_plan(model)
    real = apply_plan(copy.deepcopy(model), plan, mode="real")
    quantplan.save(real, plan, tmp_path)
    return tmp_path, real, plan


def test_artifact_files_written(saved):
    directory, _, _ = saved
    assert sorted(path.name for path in directory.iterdir()) == [
        "plan.json",
        "qparams.safetensors",
        "weights.safetensors",
    ]


def test_weights_metadata_records_plan_and_kernels(saved):
    directory, _, plan = saved
    with safe_open(str(directory / "weights.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["plan_sha256"] == plan.sha256()
    assert metadata["format_version"] == "1"
    kernels = json.loads(metadata["kernels"])
    assert kernels["fc2.weight"]["name"] == "aten._weight_int4pack_mm_for_cpu"
    assert kernels["fc2.weight"]["native"] is True
    layout = json.loads(metadata["layouts"])["fc2.weight"]
    assert layout["subbyte"]["packed_axis"] == -1
    assert layout["subbyte"]["element_order"] == "first element in the lowest bits"


def test_load_round_trip_outputs_and_tensors(saved):
    directory, real, _ = saved
    loaded = quantplan.load(directory, lambda: (TwoLayer(), (torch.zeros(4, 64),)))
    x = torch.randn(5, 64)
    assert torch.equal(loaded(x), real(x))
    expected = {
        key: value for key, value in real.state_dict().items() if isinstance(value, torch.Tensor)
    }
    actual = {
        key: value for key, value in loaded.state_dict().items() if isinstance(value, torch.Tensor)
    }
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(actual[key], expected[key]), key


def test_load_leaves_no_meta_tensor(saved):
    directory, _, _ = saved
    loaded = quantplan.load(directory, TwoLayer)
    assert not any(tensor.is_meta for tensor in [*loaded.parameters(), *loaded.buffers()])


def test_load_into_changed_model_rejected(saved):
    directory, _, _ = saved
    with pytest.raises(PlanMismatchError) as caught:
        quantplan.load(directory, lambda: TwoLayer(hidden=80))
    assert "parameter changed: fc1.weight float32[96, 64] -> float32[80, 64]" in str(caught.value)


def test_load_into_other_model_class_rejected(saved):
    directory, _, _ = saved

    class Other(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(64, 64)

        def forward(self, x):
            return self.proj(x)

    with pytest.raises(PlanMismatchError) as caught:
        quantplan.load(directory, Other)
    assert "the model does not match the plan" in str(caught.value)


def test_weights_from_other_plan_rejected(saved, tmp_path_factory):
    directory, _, _ = saved
    other_plan = fc24_plan(TwoLayer(), block=64)
    other_plan.save(directory / "plan.json")
    with pytest.raises(PlanMismatchError) as caught:
        quantplan.load(directory, TwoLayer)
    assert "weights.safetensors was written for plan sha256" in str(caught.value)


def test_save_rejects_float_model(tmp_path):
    model = TwoLayer()
    with pytest.raises(quantplan.PlanError) as caught:
        quantplan.save(model, fc24_plan(model), tmp_path)
    assert "the model is not real-quantized" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
