"""Save and load of a plain two-layer model in both execution modes."""

from __future__ import annotations

import copy

import pytest
import torch

import quantplan
from tests.runtime.real.helpers import TwoLayer, fc24_plan


def _save(directory, mode: str):
    torch.manual_seed(0)
    model = TwoLayer().eval()
    plan = fc24_plan(model, mode=mode)
    real = quantplan.apply_plan(copy.deepcopy(model), plan, mode="real")
    quantplan.save(real, plan, directory)
    return real


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_load_matches_saved_model(tmp_path, mode):
    real = _save(tmp_path, mode)
    inputs = torch.randn(4, 64)

    loaded = quantplan.load(tmp_path, TwoLayer)

    with torch.no_grad():
        assert torch.equal(loaded(inputs), real(inputs))


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_loaded_model_accepts_other_batch(tmp_path, mode):
    # The graph-mode plan was captured on a batch of 4, and the loaded model's own export
    # keeps the batch dimension dynamic.
    real = _save(tmp_path, mode)
    inputs = torch.randn(7, 64)

    loaded = quantplan.load(tmp_path, TwoLayer)

    with torch.no_grad():
        assert torch.equal(loaded(inputs), real(inputs))
