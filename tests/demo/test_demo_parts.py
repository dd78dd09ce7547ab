"""The demo's fast parts: text selection, pooling, retrieval agreement and the table."""

from __future__ import annotations

import torch

from quantplan.demo import corpus, metrics
from quantplan.demo.report import PlanResult, Reference, failed_goals, markdown_table


def test_split_texts_is_deterministic() -> None:
    assert corpus.split_texts(4, 8) == corpus.split_texts(4, 8)


def test_split_texts_are_disjoint() -> None:
    split = corpus.split_texts(20, 40)
    assert set(split.calibration).isdisjoint(split.evaluation)


def test_split_texts_sizes() -> None:
    split = corpus.split_texts(5, 7)
    assert (len(split.calibration), len(split.evaluation)) == (5, 7)


def test_mean_pool_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(metrics.mean_pool(hidden, mask), torch.tensor([[1.0, 0.0]]))


def test_retrieval_agreement_counts_same_neighbours() -> None:
    reference = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), dim=1
    )
    swapped = reference[[0, 2, 1]]
    assert metrics.retrieval_agreement(reference, reference) == 1.0
    assert metrics.retrieval_agreement(reference, swapped) < 1.0


def _result(name: str, cosine: float, difference: float = 0.01) -> PlanResult:
    return PlanResult(name, cosine, difference, 0.9, 100, 100, 0.5)


def test_failed_goals_lists_low_cosine() -> None:
    assert failed_goals([_result("int4", 0.96)]) == ["int4: cosine 0.9600 is below the goal 0.97"]


def test_failed_goals_lists_unquantized_model() -> None:
    assert failed_goals([_result("w8a8", 1.0, 0.0)]) == [
        "w8a8: embeddings equal fp32, so no quantization was applied"
    ]


def test_table_has_fp32_row_and_ratios() -> None:
    table = markdown_table([_result("mxfp4", 0.96)], Reference(state_bytes=400, encode_seconds=1.0))
    assert "| fp32 | 1.0000 |" in table
    assert "| `mxfp4` | 0.9600 | ≥ 0.95 ✓ |" in table
    assert "0.250×" in table
