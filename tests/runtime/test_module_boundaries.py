"""Module boundary quantizers on a MultiheadAttention with three inputs, in both modes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantplan import ModuleQuantizerConfig, QuantizationSpec, Quantizer, QuantizerConfig
from quantplan.errors import UnsupportedError
from quantplan.runtime.fake import fake_quantizers


class CrossAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Linear(16, 16)
        self.key = nn.Linear(16, 16)
        self.attention = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x, memory):
        output, _ = self.attention(self.query(x), self.key(memory), memory, need_weights=False)
        return output


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x):
        return self.attention(x, x, x, need_weights=False)[0]


def _boundary_config(mode: str) -> QuantizerConfig:
    int8_activation = QuantizationSpec(dtype="int8", granularity={"type": "per_tensor"})
    return QuantizerConfig(
        execution_mode=mode,
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": int8_activation},
            op_output_spec={"*": int8_activation},
        ),
        module_type_configs={
            "torch.nn.modules.activation.MultiheadAttention": ModuleQuantizerConfig(
                op_input_spec=None,
                op_output_spec=None,
                module_input_spec={0: int8_activation, 1: int8_activation, 2: int8_activation},
                module_output_spec={"*": int8_activation},
            )
        },
    )


def _inputs():
    torch.manual_seed(0)
    return torch.randn(2, 5, 16), torch.randn(2, 7, 16)


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_attention_boundaries_observed(mode):
    quantizer = Quantizer(CrossAttention().eval(), _boundary_config(mode))
    prepared = quantizer.prepare(_inputs())
    boundaries = {
        item.key: item for item in fake_quantizers(prepared) if item.key.startswith("modules/")
    }

    assert sorted(boundaries) == [
        "modules/attention/inputs/0",
        "modules/attention/inputs/1",
        "modules/attention/inputs/2",
        "modules/attention/outputs/0",
    ]
    for key, boundary in boundaries.items():
        assert boundary.has_qparams, key


def test_attention_boundaries_modes_agree():
    outputs = {}
    for mode in ("graph", "eager"):
        torch.manual_seed(1)
        model = CrossAttention().eval()
        quantizer = Quantizer(model, _boundary_config(mode))
        prepared = quantizer.prepare(_inputs())
        with torch.no_grad():
            outputs[mode] = prepared(*_inputs())

    assert torch.allclose(outputs["graph"], outputs["eager"], atol=1e-5)


def test_self_attention_aliased_inputs_rejected():
    quantizer = Quantizer(SelfAttention().eval(), _boundary_config("graph"))

    with pytest.raises(UnsupportedError) as error:
        quantizer.prepare((torch.randn(2, 5, 16),))

    assert "inputs 0 and 1 of module attention are the same tensor" in str(error.value)
