"""Fold fake-quantized weights into the float parameters (finalize with the torch backend)."""

from __future__ import annotations

import torch
from torch import nn

from quantplan.runtime.fake.control import fake_quantizers

__all__ = ["fold_weights"]


def fold_weights(model: nn.Module) -> None:
    """Write each quantized weight's fake-quant value into its parameter and bypass its quantizer.

    The weight's qparams are fixed first, from the unfolded weight, so frozen qparams stay
    those of calibration. Tied weights are folded once.
    """
    for quantizer in fake_quantizers(model):
        if quantizer.role != "weight" or not quantizer.fake_quant_enabled:
            continue
        parameter = parameter_at(model, quantizer.key.removeprefix("params/"))
        with torch.no_grad():
            quantizer.set_qparams(quantizer.qparams(parameter, device=parameter.device))
            folded = quantizer(parameter)
            parameter.copy_(folded)
        quantizer.set_fake_quant(False)


def parameter_at(model: nn.Module, path: str) -> torch.Tensor:
    """Return the stored parameter at `path`, looking through an eager parametrization."""
    owner_path, _, name = path.rpartition(".")
    owner = model.get_submodule(owner_path) if owner_path else model
    parametrizations = getattr(owner, "parametrizations", None)
    if parametrizations is not None and name in parametrizations:
        return parametrizations[name].original
    return getattr(owner, name)
