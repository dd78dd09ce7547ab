"""Registered buffers and tensor constants are state, never activation inputs, in both modes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantplan.compiler.capture import capture_model


class BufferAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.register_buffer("big", torch.ones(8))
        self.offset = torch.full((8,), 0.5)

    def forward(self, x):
        return self.fc(x) + self.big + self.offset


def _add_inputs(mode: str) -> list[tuple]:
    torch.manual_seed(0)
    graph = capture_model(BufferAdd().eval(), (torch.randn(2, 8),), mode=mode).graph
    return [tuple(item.shape for item in op.inputs) for op in graph.ops if op.type == "add"]


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_buffer_operand_not_an_input(mode):
    assert _add_inputs(mode) == [((2, 8),), ((2, 8),)]
