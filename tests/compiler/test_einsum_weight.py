"""A parameter consumed by einsum fills the weight role, as with bmm: never silently left out."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantplan.compiler import compile_plan
from quantplan.errors import PlanError
from quantplan.quantization import QuantizerConfig


class EinsumExperts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.experts = nn.Parameter(torch.randn(4, 16, 8))

    def forward(self, x):
        return torch.einsum("eti,eoi->eto", x, self.experts)


def _compile(mode: str, weight_spec: dict):
    torch.manual_seed(0)
    global_config = {"op_input_spec": None, "op_output_spec": None}
    section = {"global_config": {**global_config, "op_state_spec": {"weight": weight_spec}}}
    config = QuantizerConfig.from_dict({"quantization_config": section})
    inputs = (torch.randn(4, 3, 8),)
    return compile_plan(EinsumExperts().eval(), inputs, config, execution_mode=mode)


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_einsum_weight_without_axis_is_error(mode):
    with pytest.raises(PlanError) as error:
        _compile(mode, {"dtype": "int8", "granularity": {"type": "per_channel"}})
    message = str(error.value)
    assert "parameter experts of op einsum: per_channel granularity without an axis" in message
    assert "set granularity.axis explicitly" in message


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_einsum_weight_with_axis_has_entry(mode):
    plan = _compile(mode, {"dtype": "int8", "granularity": {"type": "per_channel", "axis": 1}})
    (op,) = [op for op in plan.ops if op.type == "einsum"]
    entry = op.state["experts"]
    assert entry.param == "experts"
    assert entry.spec.granularity.axis == 1
    assert entry.spec.scale_shape == (1, 16, 1)
