"""The demo's result rows and their Markdown table."""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs

__all__ = ["GOALS", "PlanResult", "Reference", "failed_goals", "markdown_table", "results_json"]

# Minimum mean cosine similarity to the fp32 embeddings that each shipped config must reach.
GOALS = {"w8a8": 0.99, "int4": 0.97, "mxfp4": 0.95}

_MIB = 1024 * 1024


@attrs.frozen
class Reference:
    """The fp32 model's size and encode time, which every row is compared with."""

    state_bytes: int
    encode_seconds: float


@attrs.frozen
class PlanResult:
    """Measures of one plan's real-kernel model, reloaded from its artifact."""

    name: str
    cosine: float
    max_abs_difference: float
    retrieval_agreement: float
    artifact_bytes: int
    predicted_bytes: int
    encode_seconds: float


def _row(result: PlanResult, reference: Reference) -> str:
    goal = GOALS.get(result.name)
    verdict = "" if goal is None else (" ✓" if result.cosine >= goal else " ✗")
    goal_text = "—" if goal is None else f"≥ {goal:.2f}{verdict}"
    cells = [
        f"`{result.name}`",
        f"{result.cosine:.4f}",
        goal_text,
        f"{result.max_abs_difference:.2e}",
        f"{100 * result.retrieval_agreement:.1f} %",
        f"{result.artifact_bytes / _MIB:.1f}",
        f"{result.artifact_bytes / reference.state_bytes:.3f}×",
        f"{result.artifact_bytes / result.predicted_bytes:.3f}×",
        f"{result.encode_seconds:.2f}",
        f"{result.encode_seconds / reference.encode_seconds:.2f}×",
    ]
    return "| " + " | ".join(cells) + " |"


def markdown_table(results: Sequence[PlanResult], reference: Reference) -> str:
    """Render one row per plan, with ratios to the fp32 reference and to the plan's prediction."""
    header = (
        "| plan | cosine vs fp32 | goal | max abs Δ | top-1 agreement | artifact MiB "
        "| vs fp32 | vs plan | encode s | vs fp32 |"
    )
    rule = "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    fp32 = (
        f"| fp32 | 1.0000 | — | 0 | 100.0 % | {reference.state_bytes / _MIB:.1f} | 1.000× | — "
        f"| {reference.encode_seconds:.2f} | 1.00× |"
    )
    rows = [_row(result, reference) for result in results]
    return "\n".join([header, rule, fp32, *rows])


def failed_goals(results: Sequence[PlanResult]) -> list[str]:
    """List every way the results miss the demo's goals, as sentences."""
    failures = []
    for result in results:
        if result.max_abs_difference == 0.0:
            failures.append(f"{result.name}: embeddings equal fp32, so no quantization was applied")
        goal = GOALS.get(result.name)
        if goal is not None and result.cosine < goal:
            failures.append(f"{result.name}: cosine {result.cosine:.4f} is below the goal {goal}")
    return failures


def results_json(results: Sequence[PlanResult], reference: Reference) -> str:
    """Serialize the reference and every row as indented JSON."""
    document = {
        "fp32": attrs.asdict(reference),
        "plans": [attrs.asdict(result) for result in results],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
