"""Fake-mode apply rejects a model on the meta device with a PlanError that names the fix."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import quantplan
from quantplan.compiler import compile_plan
from quantplan.errors import PlanError
from quantplan.quantization import QuantizerConfig


def _meta_model() -> nn.Module:
    with torch.device("meta"):
        return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)).eval()


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_meta_model_fake_apply_rejected(mode):
    model = _meta_model()
    plan = compile_plan(
        model, (torch.randn(2, 8, device="meta"),), QuantizerConfig(), execution_mode=mode
    )

    with pytest.raises(PlanError) as error:
        quantplan.apply_plan(model, plan)

    message = str(error.value)
    assert message.startswith("model: the model is on the meta device (4 tensors, first 0.weight)")
    assert "fake quantization needs real weights" in message
    assert "model.to_empty(device='cpu') then model.load_state_dict(...)" in message
