"""Real mode on a small GPT-2, whose LM head shares the token embedding's weight."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import quantplan
from quantplan import Quantizer, QuantizerConfig

transformers = pytest.importorskip("transformers")


class TinyGPT2(nn.Module):
    """GPT-2 LM head model with two layers; returns the logits only."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        config = transformers.GPT2Config(
            n_layer=2, n_head=2, n_embd=64, vocab_size=128, n_positions=32
        )
        self.model = transformers.GPT2LMHeadModel(config)

    def forward(self, ids):
        return self.model(input_ids=ids, use_cache=False).logits


def _finalize(mode: str):
    model = TinyGPT2().eval()
    inputs = (torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(1)),)
    config = QuantizerConfig.presets.w8a8()
    config.execution_mode = mode
    quantizer = Quantizer(model, config)
    prepared = quantizer.prepare(inputs)
    with quantizer.calibration_mode():
        prepared(*inputs)
    with torch.no_grad():
        fake = prepared(*inputs)
    return quantizer, quantizer.finalize(), inputs, fake


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_tied_gpt2_finalize_matches_fake(mode):
    _, real, inputs, fake = _finalize(mode)

    with torch.no_grad():
        output = real(*inputs)

    assert model_weights_packed(real)
    assert torch.allclose(output, fake, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_tied_gpt2_graph_load_round_trip(tmp_path):
    quantizer, real, inputs, _ = _finalize("graph")
    quantplan.save(real, quantizer.plan, tmp_path)

    loaded = quantplan.load(tmp_path, lambda: (TinyGPT2().eval(), inputs))

    with torch.no_grad():
        assert torch.equal(loaded(*inputs), real(*inputs))


def model_weights_packed(model: nn.Module) -> bool:
    """Check that the embedding and the LM head both hold packed weights."""
    from quantplan.runtime.real.linear import QuantizedLinear
    from quantplan.runtime.real.modules import PackedWeightHolder, QuantizedEmbedding

    kinds = {type(module) for module in model.modules()}
    return QuantizedLinear in kinds and bool(kinds & {PackedWeightHolder, QuantizedEmbedding})
