"""`quantplan diff` through a real subprocess: output formats and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .plan_builders import tinynet_plan


def run_diff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quantplan.cli", "diff", *args], capture_output=True, text=True
    )


@pytest.fixture()
def plans(tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    tinynet_plan(fc2_disabled=True).save(old)
    tinynet_plan(fc2_disabled=False).save(new)
    return str(old), str(new)


def test_same_plans_exit_0(plans):
    result = run_diff(plans[0], plans[0])
    assert result.returncode == 0
    assert result.stdout.startswith("Plans are the same\n")


def test_changed_plans_exit_1_markdown(plans):
    result = run_diff(*plans, "--format", "markdown")
    assert result.returncode == 1
    assert result.stdout.startswith(
        "### Plan changed: 1 tensor, 2 entries decided by another rule\n"
    )
    assert "Weight bytes 60,320 → 17,120 (−71.6 %) · bits per weight 17.62 → 5.00" in result.stdout


def test_json_format(plans):
    result = run_diff(*plans, "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["changed"] is True


def test_missing_file_exit_2(plans, tmp_path):
    missing = tmp_path / "nope.json"
    result = run_diff(plans[0], str(missing))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: cannot read plan file {str(missing)!r}: No such file or directory.\n"
    )
    assert "Traceback" not in result.stderr


def test_invalid_plan_exit_2(plans, tmp_path):
    broken = tmp_path / "broken.json"
    data = json.loads(tinynet_plan().to_json())
    data["ops"][0]["type"] = 3
    broken.write_text(json.dumps(data), encoding="utf-8")
    result = run_diff(plans[0], str(broken))
    assert result.returncode == 2
    assert result.stderr == f"error: $.ops[0].type: 3 is not of type 'string' (in {broken})\n"


def test_not_json_exit_2(plans, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("not json", encoding="utf-8")
    result = run_diff(plans[0], str(broken))
    assert result.returncode == 2
    assert "the plan is not valid JSON" in result.stderr


def test_unknown_format_option_exit_2(plans):
    result = run_diff(*plans, "--format", "html")
    assert result.returncode == 2
    assert "invalid choice: 'html'" in result.stderr
