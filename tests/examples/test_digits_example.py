"""examples/digits.py trains its CNN and meets the accuracy goals through the API and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples import digits


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("digits")


@pytest.fixture(scope="module")
def results(output: Path) -> dict[str, float]:
    return digits.run(output)


@pytest.mark.slow
def test_float_model_learns_digits(results) -> None:
    assert results["float"] >= 95.0


@pytest.mark.slow
@pytest.mark.parametrize("config", ["w8a8", "w4"])
@pytest.mark.parametrize("route", ["Quantizer", "CLI"])
def test_accuracy_drop_within_goal(results, config: str, route: str) -> None:
    drop = results["float"] - results[f"{config} ({route})"]
    assert drop <= digits.MAX_DROP[config], f"{config} via {route} lost {drop:.2f} points"


@pytest.mark.slow
def test_cli_route_writes_artifacts(results, output: Path) -> None:
    for name in ("w8a8", "w4"):
        assert (output / f"{name}.plan.json").is_file()
        assert (output / f"{name}-artifact" / "weights.safetensors").is_file()


def test_missed_goals_names_the_model() -> None:
    results = {"float": 98.0, "w8a8 (CLI)": 97.0, "w4 (Quantizer)": 97.5}
    assert digits.missed_goals(results) == ["w8a8 (CLI): drop 1.00 points exceeds 0.5"]
