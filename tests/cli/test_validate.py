"""`quantplan validate` as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quantplan.cli", "validate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_valid_files_exit_zero():
    result = validate("fixtures/valid/llm_w4a8.yaml", "fixtures/valid/mha_boundaries.yaml")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "fixtures/valid/llm_w4a8.yaml: valid",
        "fixtures/valid/mha_boundaries.yaml: valid",
    ]


def test_invalid_file_prints_every_problem():
    result = validate("fixtures/invalid/many_problems.yaml")

    assert result.returncode == 1
    expected = (ROOT / "fixtures/invalid/many_problems.errors").read_text().splitlines()
    assert result.stdout.splitlines() == expected
    assert len(expected) == 5
    assert result.stderr == "1 of 1 files invalid\n"


def test_missing_file_is_invalid():
    result = validate("fixtures/valid/mxfp4_anchors.yaml", "no/such/config.yaml")

    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        "no/such/config.yaml:1:1: <root>: cannot read config file no/such/config.yaml: "
        "No such file or directory."
    )
    assert "Traceback" not in result.stderr


def test_no_files_is_usage_error():
    result = validate()

    assert result.returncode == 2
    assert "the following arguments are required: FILE" in result.stderr
