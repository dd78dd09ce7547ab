"""ModelInspector and the `quantplan inspect` command."""

from __future__ import annotations

import torch
from torch import nn

from fixtures import models
from quantplan.cli import main
from quantplan.inspection import ModelInspector


def test_summary_lists_modules_and_ops():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    inspector = ModelInspector(model, example_inputs=(torch.randn(1, 10),), execution_mode="graph")
    assert inspector.format_summary().splitlines() == [
        "Model: torch.nn.modules.container.Sequential (graph mode)",
        "",
        "Modules (3)",
        "  name  type",
        "  0     torch.nn.modules.linear.Linear",
        "  1     torch.nn.modules.activation.ReLU",
        "  2     torch.nn.modules.linear.Linear",
        "",
        "Ops (3)",
        "  name      type    module",
        "  linear    linear  0",
        "  relu      relu    1",
        "  linear_1  linear  2",
    ]


def test_eager_ops_property():
    model, inputs = models.make_tiny_net()
    inspector = ModelInspector(model, inputs, execution_mode="eager")
    assert inspector.ops == [
        ("embed.embedding", "embedding", "embed"),
        ("fc1.linear", "linear", "fc1"),
        ("relu", "relu", ""),
        ("fc2.linear", "linear", "fc2"),
    ]


def test_cli_inspect_prints_ops(capsys):
    assert main(["inspect", "--model", "fixtures.models:make_tiny_net", "--mode", "eager"]) == 0
    output = capsys.readouterr().out
    assert "  fc2.linear       linear     fc2" in output


def test_cli_malformed_model_reference(capsys):
    assert main(["inspect", "--model", "not-a-reference"]) == 2
    assert capsys.readouterr().err == (
        "error: --model 'not-a-reference' is invalid: expected package.module:callable\n"
    )


def test_cli_missing_module(capsys):
    assert main(["inspect", "--model", "no_such_package.models:make"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        "error: --model 'no_such_package.models:make': importing module 'no_such_package.models' "
        "failed: ModuleNotFoundError: "
    )


def test_cli_missing_callable(capsys):
    assert main(["inspect", "--model", "fixtures.models:make_nothing"]) == 1
    assert capsys.readouterr().err == (
        "error: --model 'fixtures.models:make_nothing': module 'fixtures.models' "
        "has no attribute 'make_nothing'\n"
    )
