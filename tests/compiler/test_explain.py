"""`explain` in Python and `quantplan explain PLAN NAME` in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.models.basic import make_tiny_net
from quantplan.compiler import compile_plan
from quantplan.compiler.explain import explain
from quantplan.errors import PlanError
from quantplan.quantization import QuantizerConfig

REPO = Path(__file__).resolve().parents[2]
INT4_BLOCK = {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 32}}
CONFIG = {
    "global_config": {
        "op_input_spec": None,
        "op_output_spec": None,
        "op_state_spec": {"weight": INT4_BLOCK},
    },
    "module_type_configs": {
        "Linear": {
            "op_input_spec": None,
            "op_output_spec": None,
            "op_state_spec": {"weight": INT4_BLOCK},
        }
    },
    "module_name_configs": {"fc2": None},
}


@pytest.fixture(scope="module")
def plan():
    model, inputs = make_tiny_net()
    return compile_plan(model, inputs, QuantizerConfig.from_dict({"quantization_config": CONFIG}))


@pytest.fixture(scope="module")
def plan_file(plan, tmp_path_factory):
    path = tmp_path_factory.mktemp("explain") / "plan.json"
    plan.save(path)
    return path


def test_explain_op_deciding_rule(plan):
    result = explain(plan, "linear_1")
    assert result.kind == "op"
    assert result.ops[0].module_rule.path == 'module_name_configs["fc2"]'


def test_explain_op_shadowed_rules(plan):
    result = explain(plan, "linear_1")
    shadowed = [rule.path for rule in result.ops[0].module_rules[1:]]
    assert shadowed == ['module_type_configs["Linear"]', "global_config"]


def test_explain_op_text(plan):
    lines = str(explain(plan, "linear_1")).splitlines()
    assert lines[:6] == [
        "op linear_1: decided in 1 op(s)",
        "op linear_1 (linear) in fc2 (torch.nn.modules.linear.Linear)",
        '  module rule: module_name_configs["fc2"]',
        '    shadows module_type_configs["Linear"] (matches this module)',
        "    shadows global_config",
        '  op rule: module_name_configs["fc2"] (None: every tensor stays in float)',
    ]
    assert '  state weight (fc2.weight): float  <- module_name_configs["fc2"]' in lines


def test_explain_parameter_path(plan):
    text = str(explain(plan, "fc1.weight"))
    assert text.startswith("parameter fc1.weight: decided in 1 op(s)\n")
    assert (
        "  state weight (fc1.weight): int4 per_block(axis 1, block 32), scale [128, 2]  "
        '<- module_type_configs["Linear"].op_state_spec["weight"]'
    ) in text


def test_explain_unknown_name_lists_nearest(plan):
    with pytest.raises(PlanError) as caught:
        explain(plan, "fc3.weight")
    assert str(caught.value) == (
        "fc3.weight: not found in the plan as an op name or a parameter path. "
        "Nearest candidates: fc2.weight, fc1.weight, embed.weight."
    )


def run_explain(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "quantplan.cli", "explain", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO)


def test_explain_command_op_name(plan_file):
    result = run_explain(plan_file, "linear_1")
    assert result.returncode == 0
    assert result.stdout.startswith("op linear_1: decided in 1 op(s)\n")
    assert '  module rule: module_name_configs["fc2"]\n' in result.stdout


def test_explain_command_parameter_path(plan_file):
    result = run_explain(plan_file, "embed.weight")
    assert result.returncode == 0
    assert result.stdout.startswith("parameter embed.weight: decided in 1 op(s)\n")
    assert '<- global_config.op_state_spec["weight"]' in result.stdout


def test_explain_command_unknown_name(plan_file):
    result = run_explain(plan_file, "lineer_1")
    assert result.returncode == 1
    assert result.stderr == (
        "error: lineer_1: not found in the plan as an op name or a parameter path. "
        "Nearest candidates: linear_1, linear.\n"
    )
    assert result.stdout == ""
