"""A buffer operand gives the same plan entries in graph and eager mode, and both modes apply it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import quantplan
from quantplan.compiler import compile_plan
from quantplan.quantization import QuantizerConfig
from quantplan.runtime.fake import fake_quantizers


class BufferAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.register_buffer("big", torch.full((8,), 1000.0))

    def forward(self, x):
        return self.fc(x) + self.big


def _entries(plan) -> dict[str, tuple]:
    return {op.type: (sorted(op.inputs), sorted(op.outputs), sorted(op.state)) for op in plan.ops}


def _compile(mode: str):
    torch.manual_seed(0)
    model = BufferAdd().eval()
    inputs = (torch.randn(2, 8),)
    return model, inputs, compile_plan(model, inputs, QuantizerConfig(), execution_mode=mode)


def test_buffer_operand_same_entries():
    _, _, graph_plan = _compile("graph")
    _, _, eager_plan = _compile("eager")

    assert _entries(eager_plan) == _entries(graph_plan)
    assert _entries(eager_plan)["add"][0] == [0]


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_buffer_operand_not_quantized(mode):
    model, inputs, plan = _compile(mode)
    prepared = quantplan.apply_plan(model, plan)
    with torch.no_grad():
        output = prepared(*inputs)

    entries = {entry for item in fake_quantizers(prepared) for entry in item.entries}
    assert "ops/add/inputs/0" in entries
    assert "ops/add/inputs/1" not in entries
    assert output.shape == (2, 8)
