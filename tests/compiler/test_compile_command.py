"""`quantplan compile CONFIG --model M -o plan.json [--mode] [--strict]` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from quantplan.plan.model import Plan
from quantplan.schema.plan_schema import plan_validation_errors

REPO = Path(__file__).resolve().parents[2]
MODEL = "fixtures.models:make_tiny_net"
CONFIG = """\
quantization_config:
  global_config:
    op_input_spec: null
    op_output_spec: null
    op_state_spec:
      weight: {dtype: int4, granularity: {type: per_block, block_size: 32}}
  module_name_configs:
    fc2: null
    fc9: null
"""


def run_compile(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "quantplan.cli", "compile", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("compile") / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def compiled(config_file):
    """Run `quantplan compile` once in graph mode; return the process and the plan path."""
    output = config_file.parent / "plan.json"
    return run_compile(config_file, "--model", MODEL, "-o", output), output


def test_compile_command_succeeds(compiled):
    result, output = compiled
    assert result.returncode == 0
    assert result.stderr == f"wrote {output}\n"


def test_compile_command_plan_validates(compiled):
    _, output = compiled
    data = json.loads(output.read_text(encoding="utf-8"))
    assert plan_validation_errors(data) == []
    assert data["model"]["execution_mode"] == "graph"


def test_compile_command_prints_summary(compiled):
    result, _ = compiled
    lines = result.stdout.splitlines()
    assert lines[0] == "4 ops, 2 of 3 candidate weights quantized (float: 1, int4/per_block: 2)"
    assert lines[1] == "weight bytes 109,568 -> 60,320; bits per weight 17.62 (quantized only: 5.0)"


def test_compile_command_prints_diagnostics(compiled):
    result, _ = compiled
    assert (
        'warning: [unmatched-rule] module_name_configs["fc9"] matches no module in the model. Keys are regular '
        "expressions full-matched against named_modules() names. Nearest candidates: fc2, fc1."
    ) in result.stdout.splitlines()


def test_compile_command_eager_mode(config_file):
    output = config_file.parent / "eager.json"
    result = run_compile(config_file, "--model", MODEL, "-o", output, "--mode", "eager")
    assert result.returncode == 0
    assert Plan.load(output).model.execution_mode == "eager"


def test_compile_command_strict_unmatched_rule(config_file):
    output = config_file.parent / "strict.json"
    result = run_compile(config_file, "--model", MODEL, "-o", output, "--strict")
    assert result.returncode == 1
    assert result.stderr == (
        'error: module_name_configs["fc9"]: matches no module in the model. Keys are regular expressions '
        "full-matched against named_modules() names. Nearest candidates: fc2, fc1.\n"
    )
    assert not output.exists()


def test_compile_command_invalid_config(tmp_path):
    output = tmp_path / "plan.json"
    result = run_compile("fixtures/invalid/bad_dtype.yaml", "--model", MODEL, "-o", output)
    expected = (REPO / "fixtures/invalid/bad_dtype.errors").read_text(encoding="utf-8")
    assert result.returncode == 1
    assert result.stderr == "error: " + expected
    assert "Traceback" not in result.stderr
    assert not output.exists()
