"""Real-mode outputs against the fake-quant model they were finalized from, per preset."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantplan import Quantizer, QuantizerConfig

PRESETS = ["fp8", "mxfp4", "w4a8", "w8a8", "w4", "w8"]
# The acceptance bound on relative L2 error between real and fake-quant outputs.
BOUND = 0.01


class TwoLayerMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 96)
        self.fc2 = nn.Linear(96, 64)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class EmbeddingLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(128, 64)
        self.proj = nn.Linear(64, 64)

    def forward(self, ids):
        return self.proj(self.embed(ids))


def _mlp_inputs(generator):
    return (torch.randn(8, 64, generator=generator),)


def _embedding_inputs(generator):
    return (torch.randint(0, 128, (4, 16), generator=generator),)


MODELS = {"mlp": (TwoLayerMLP, _mlp_inputs), "embedding": (EmbeddingLinear, _embedding_inputs)}


def _real_vs_fake(model_name: str, preset: str, mode: str) -> float:
    torch.manual_seed(0)
    build, make_inputs = MODELS[model_name]
    generator = torch.Generator().manual_seed(1)
    config = getattr(QuantizerConfig.presets, preset)()
    config.execution_mode = mode
    quantizer = Quantizer(build().eval(), config)
    example = make_inputs(generator)
    prepared = quantizer.prepare(example)
    with quantizer.calibration_mode():
        for _ in range(4):
            prepared(*make_inputs(generator))
    with torch.no_grad():
        fake = prepared(*example)
        real = quantizer.finalize()(*example)
    return float((real - fake).norm() / fake.norm())


@pytest.mark.parametrize("mode", ["graph", "eager"])
@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("preset", PRESETS)
def test_real_within_bound_of_fake(preset, model_name, mode):
    assert _real_vs_fake(model_name, preset, mode) <= BOUND
