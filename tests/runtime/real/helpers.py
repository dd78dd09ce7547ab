"""Small models and plans for real-mode tests, built through the Python config API."""

from __future__ import annotations

import torch
from torch import nn

from quantplan import compile_plan
from quantplan.quantization.config import ModuleQuantizerConfig, QuantizerConfig
from quantplan.quantization.spec import QuantizationSpec


class TwoLayer(nn.Module):
    """Linear(64, hidden) -> ReLU -> Linear(hidden, 64)."""

    def __init__(self, hidden: int = 96, features: int = 64):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.fc2 = nn.Linear(hidden, features)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def weight_only(spec: QuantizationSpec, **module_specs: QuantizationSpec) -> QuantizerConfig:
    """Config: every weight gets `spec` (or the spec named for its module), activations stay float."""
    config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec=None, op_output_spec=None, op_state_spec={"weight": spec}
        )
    )
    for name, module_spec in module_specs.items():
        config.set_module_name(
            name,
            ModuleQuantizerConfig(
                op_input_spec=None, op_output_spec=None, op_state_spec={"weight": module_spec}
            ),
        )
    return config


def int4_block(size: int = 32) -> QuantizationSpec:
    return QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": size})


def int8_channel() -> QuantizationSpec:
    return QuantizationSpec(dtype="int8", granularity={"type": "per_channel"})


def fc24_plan(model: nn.Module, block: int = 32, mode: str = "eager"):
    """int8 per-channel on fc1, int4 per-block on fc2."""
    config = weight_only(int4_block(block), fc1=int8_channel())
    return compile_plan(
        model, (torch.zeros(4, model.fc1.in_features),), config, execution_mode=mode
    )


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    actual, expected = actual.detach().float(), expected.detach().float()
    return float((actual - expected).norm() / expected.norm())
