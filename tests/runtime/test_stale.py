"""A stale plan is caught before anything changes, with no false alarm on an identical rebuild."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import quantplan
from quantplan.compiler import compile_plan
from quantplan.errors import PlanMismatchError
from quantplan.quantization.config import QuantizerConfig
from quantplan.runtime.fake import fake_quantizers


class Net(nn.Module):
    def __init__(
        self, hidden: int = 32, names=("fc1", "fc2"), extra: bool = False, dtype=torch.float32
    ):
        super().__init__()
        self.names = names
        setattr(self, names[0], nn.Linear(16, hidden))
        setattr(self, names[1], nn.Linear(hidden, 8))
        self.extra = nn.Linear(8, 8) if extra else None
        self.to(dtype)

    def forward(self, x):
        x = getattr(self, self.names[1])(torch.relu(getattr(self, self.names[0])(x)))
        return self.extra(x) if self.extra is not None else x


class Shorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 8)

    def forward(self, x):
        return self.fc1(x)


MODES = ["graph", "eager"]


def _plan(mode: str):
    return compile_plan(Net().eval(), (torch.randn(2, 16),), QuantizerConfig(), execution_mode=mode)


def _mismatch(plan, model) -> list[str]:
    with pytest.raises(PlanMismatchError) as caught:
        quantplan.apply_plan(model.eval(), plan)
    return caught.value.changes


@pytest.mark.parametrize("mode", MODES)
def test_identical_rebuild_applies(mode):
    prepared = quantplan.apply_plan(Net().eval(), _plan(mode))

    assert fake_quantizers(prepared)


@pytest.mark.parametrize("mode", MODES)
def test_renamed_layer_caught(mode):
    changes = _mismatch(_plan(mode), Net(names=("fc1", "proj")))

    assert any("module renamed: fc2 -> proj" in change for change in changes), changes


@pytest.mark.parametrize("mode", MODES)
def test_added_layer_caught(mode):
    changes = _mismatch(_plan(mode), Net(extra=True))

    assert any(change.startswith("op added:") and "extra" in change for change in changes), changes


@pytest.mark.parametrize("mode", MODES)
def test_removed_layer_caught(mode):
    changes = _mismatch(_plan(mode), Shorter())

    assert any(change.startswith("op removed:") for change in changes), changes
    assert "module removed: fc2 (torch.nn.modules.linear.Linear)" in changes


@pytest.mark.parametrize("mode", MODES)
def test_changed_hidden_size_caught(mode):
    changes = _mismatch(_plan(mode), Net(hidden=24))

    assert any(
        change.startswith("parameter changed: fc1.weight float32[32, 16] -> float32[24, 16]")
        for change in changes
    ), changes


@pytest.mark.parametrize("mode", MODES)
def test_changed_dtype_caught(mode):
    plan = _plan(mode)
    model = Net(dtype=torch.bfloat16).eval()

    with pytest.raises(PlanMismatchError) as caught:
        quantplan.apply_plan(
            model, plan, example_inputs=(torch.randn(2, 16, dtype=torch.bfloat16),)
        )

    assert any(
        "fc1.weight float32[32, 16] -> bfloat16[32, 16]" in change
        for change in caught.value.changes
    )


def test_mismatch_leaves_eager_model_unchanged():
    plan = _plan("eager")
    model = Net(hidden=24).eval()
    before = {key: value.clone() for key, value in model.state_dict().items()}

    with pytest.raises(PlanMismatchError):
        quantplan.apply_plan(model, plan)

    assert not fake_quantizers(model)
    assert list(model.state_dict()) == list(before)
    assert all(torch.equal(model.state_dict()[key], value) for key, value in before.items())


def test_mismatch_message_says_recompile():
    with pytest.raises(PlanMismatchError, match="recompile the plan for this model"):
        quantplan.apply_plan(Net(hidden=24).eval(), _plan("graph"))
