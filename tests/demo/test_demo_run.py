"""`quantplan demo --size small` runs end to end and writes its plans, artifacts and table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from quantplan.demo.job import CONFIG_NAMES
from quantplan.demo.report import GOALS

TABLE_HEADER = "| plan | cosine vs fp32 | goal | max abs Δ | top-1 agreement |"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    output = tmp_path_factory.mktemp("demo")
    command = [
        sys.executable,
        "-m",
        "quantplan.cli",
        "demo",
        "--size",
        "small",
        "--output",
        str(output),
    ]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=900
    )
    return completed, output


@pytest.mark.slow
def test_demo_exits_zero(demo_run) -> None:
    completed, _ = demo_run
    assert completed.returncode == 0, completed.stderr[-3000:]


@pytest.mark.slow
def test_demo_prints_table_row_per_plan(demo_run) -> None:
    completed, _ = demo_run
    assert TABLE_HEADER in completed.stdout
    for name in CONFIG_NAMES:
        assert f"| `{name}` |" in completed.stdout


@pytest.mark.slow
def test_demo_prints_review_diff(demo_run) -> None:
    completed, _ = demo_run
    assert "quantplan diff w8a8.json int4.json --format markdown" in completed.stdout
    assert "### Plan changed" in completed.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_demo_writes_plan_and_artifact(demo_run, name: str) -> None:
    _, output = demo_run
    assert (output / "plans" / f"{name}.json").is_file()
    for file in ("plan.json", "qparams.safetensors", "weights.safetensors"):
        assert (output / "artifacts" / name / file).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_demo_embeddings_quantized_within_goal(demo_run, name: str) -> None:
    _, output = demo_run
    rows = {row["name"]: row for row in json.loads((output / "results.json").read_text())["plans"]}
    assert rows[name]["max_abs_difference"] > 0.0
    assert rows[name]["cosine"] >= GOALS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_demo_artifact_smaller_than_fp32(demo_run, name: str) -> None:
    _, output = demo_run
    results = json.loads((output / "results.json").read_text())
    row = {item["name"]: item for item in results["plans"]}[name]
    assert row["artifact_bytes"] < results["fp32"]["state_bytes"]
