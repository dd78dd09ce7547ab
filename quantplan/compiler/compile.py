"""`compile_plan`: capture a model and resolve a config against it into a Plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from quantplan.compiler.capture import capture_model
from quantplan.compiler.resolve import resolve
from quantplan.errors import ErrorDetail, PlanError
from quantplan.plan.model import Plan
from quantplan.quantization.config import ExecutionMode, QuantizerConfig
from quantplan.quantization.quantizer import coerce_config

__all__ = ["check_finite_weights", "compile_plan"]


def compile_plan(
    model: nn.Module,
    example_inputs: Any,
    config: QuantizerConfig | dict | str | Path | None,
    *,
    execution_mode: ExecutionMode | str | None = None,
    strict: bool = False,
    dynamic_shapes: Any = None,
    capture_strict: bool = False,
) -> Plan:
    """Capture `model` on `example_inputs` and resolve `config` into a Plan.

    `config` takes the forms `Quantizer` takes: a QuantizerConfig, a dict, a YAML path or
    YAML text, or None for the default config. Any other type raises ConfigError.

    `execution_mode` overrides the config's; `strict` turns unmatched rules, skipped tensors
    and an empty plan into a PlanError; `capture_strict` runs torch.export in strict mode.
    A weight holding NaN or inf is a PlanError naming it (meta tensors are not checked).
    """
    config = coerce_config(config)
    config.validate()  # in-place edits of the config's maps bypass its setters
    mode = (
        ExecutionMode(str(execution_mode)) if execution_mode is not None else config.execution_mode
    )
    check_finite_weights(model)
    captured = capture_model(
        model, example_inputs, mode=mode.value, strict=capture_strict, dynamic_shapes=dynamic_shapes
    )
    return resolve(captured.graph, config, strict=strict)


def check_finite_weights(model: nn.Module) -> None:
    """Raise PlanError naming every floating-point parameter that contains NaN or inf."""
    problems = []
    for path, param in model.named_parameters():
        if param.is_meta or not param.is_floating_point():
            continue
        if not bool(torch.isfinite(param.detach()).all()):
            problems.append(
                ErrorDetail(
                    path=path,
                    message=f"parameter {path} holds NaN or inf values; quantization needs finite weights. "
                    "Fix or reinitialize the weights before compiling.",
                )
            )
    if problems:
        raise PlanError(problems)
