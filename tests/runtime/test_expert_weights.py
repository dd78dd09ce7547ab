"""A parameter that bmm or einsum consumes as its weight is fake-quantized per the plan's block shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import quantplan
from quantplan.compiler import compile_plan
from quantplan.quantization import QuantizerConfig
from quantplan.runtime.frozen import collect_qparams
from quantplan.runtime.numerics import fake_quantize


class Experts(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.experts = nn.Parameter(torch.randn(4, 16, 8))

    def forward(self, x, experts=None):
        experts = self.experts if experts is None else experts
        if self.kind == "bmm":
            return torch.bmm(x, experts.transpose(1, 2))
        return torch.einsum("eti,eoi->eto", x, experts)


def _plan(model: nn.Module, inputs: tuple, mode: str):
    # Block size [1, 1, -1]: one scale per (expert, output channel).
    experts = {"dtype": "int8", "granularity": {"type": "per_block", "block_size": [1, 1, -1]}}
    section = {
        "global_config": {
            "op_input_spec": None,
            "op_output_spec": None,
            "op_state_spec": {"weight": experts},
        }
    }
    config = QuantizerConfig.from_dict({"quantization_config": section})
    return compile_plan(model, inputs, config, execution_mode=mode)


@pytest.mark.parametrize("mode", ["graph", "eager"])
@pytest.mark.parametrize("kind", ["bmm", "einsum"])
def test_expert_weight_fake_quantized(kind, mode):
    torch.manual_seed(0)
    model = Experts(kind).eval()
    inputs = (torch.randn(4, 3, 8),)
    plan = _plan(model, inputs, mode)
    (op,) = plan.ops
    entry = op.state["experts"]
    original = model.experts.detach().clone()
    with torch.no_grad():
        expected_weight, expected_scale, _ = fake_quantize(
            model.experts,
            entry.spec.to_quantization_spec(),
            role="weight",
            block_shape=entry.spec.block_shape,
        )
        expected = model(*inputs, experts=expected_weight)

    prepared = quantplan.apply_plan(model, plan)
    with torch.no_grad():
        output = prepared(*inputs)

    assert entry.spec.block_shape == (1, 1, 8)
    assert collect_qparams(prepared)["params/experts/scale"].shape == (4, 16, 1)
    assert torch.equal(collect_qparams(prepared)["params/experts/scale"], expected_scale)
    assert not torch.equal(expected_weight, original)
    assert torch.equal(output, expected)
