"""A failed graph capture leaves stderr to quantplan's own error: torch's dumps are kept out."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from quantplan.cli import main
from quantplan.compiler.capture import capture_model
from quantplan.compiler.capture.quiet import TORCH_CAPTURE_LOGGERS
from quantplan.errors import PlanError


class ValueBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        if x.abs().max() > 1:
            return self.fc(x) * 2
        return self.fc(x)


def test_value_branch_prints_nothing(capfd):
    with pytest.raises(PlanError):
        capture_model(ValueBranch().eval(), (torch.randn(2, 8),), mode="graph")
    assert capfd.readouterr().err == ""


def test_logger_levels_restored():
    before = [logging.getLogger(name).level for name in TORCH_CAPTURE_LOGGERS]
    with pytest.raises(PlanError):
        capture_model(ValueBranch().eval(), (torch.randn(2, 8),), mode="graph")
    assert [logging.getLogger(name).level for name in TORCH_CAPTURE_LOGGERS] == before


def value_branch_factory():
    return ValueBranch().eval(), (torch.randn(2, 8),)


def test_cli_prints_one_error_line(tmp_path, capfd):
    config = tmp_path / "w8a8.yaml"
    config.write_text("quantization_config: {global_config: {}}\n")
    reference = "tests.compiler.test_capture_quiet:value_branch_factory"
    code = main(["compile", str(config), "--model", reference, "-o", str(tmp_path / "plan.json")])
    err = capfd.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("error: graph-mode capture (torch.export(strict=False)) failed: ")
