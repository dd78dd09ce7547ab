"""Switches over every quantizer of a prepared model: calibration, QAT and freezing.

| state | observers | weight fake quant | activation fake quant |
|---|---|---|---|
| `calibration_mode()` | on | on | off |
| `training_mode()` (model in train mode) | on | on | on |
| after `freeze_activations()` | off, qparams fixed | on | on |
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

from quantplan.errors import ErrorDetail, PlanError
from quantplan.runtime.fake.quantizer import FakeQuantizer

__all__ = [
    "attach_quantizer_list",
    "calibration_mode",
    "fake_quantizers",
    "freeze_activations",
    "is_prepared",
    "restore_state",
    "set_observers",
    "training_mode",
]


QUANTIZERS_ATTRIBUTE = "_quantplan_quantizers"


def attach_quantizer_list(model: nn.Module, quantizers: list[FakeQuantizer]) -> None:
    """Record `model`'s quantizers without registering them as child modules.

    A child module would change the model: `nn.Sequential` would call it as a layer.
    """
    object.__setattr__(model, QUANTIZERS_ATTRIBUTE, tuple(quantizers))


def fake_quantizers(model: nn.Module) -> list[FakeQuantizer]:
    """Return the distinct quantizers of `model`, in plan-site order (else module order)."""
    attached = getattr(model, QUANTIZERS_ATTRIBUTE, None)
    if attached is not None:
        return list(attached)
    seen: dict[int, FakeQuantizer] = {}
    for module in model.modules():
        if isinstance(module, FakeQuantizer):
            seen.setdefault(id(module), module)
    return list(seen.values())


def is_prepared(model: nn.Module) -> bool:
    """Whether a plan was already applied to `model` (it has quantizers or the applied marker)."""
    return getattr(model, "quantplan_plan_sha256", None) is not None or bool(fake_quantizers(model))


def _snapshot(model: nn.Module) -> list[tuple[FakeQuantizer, bool, bool]]:
    return [
        (quantizer, quantizer.observe_enabled, quantizer.fake_quant_enabled)
        for quantizer in fake_quantizers(model)
    ]


@contextlib.contextmanager
def restore_state(model: nn.Module) -> Iterator[None]:
    """Restore every quantizer's switches and the model's train/eval mode on exit."""
    saved = _snapshot(model)
    training = model.training
    try:
        yield
    finally:
        for quantizer, observe, fake_quant in saved:
            quantizer.set_observe(observe)
            quantizer.set_fake_quant(fake_quant)
        model.train(training)


@contextlib.contextmanager
def calibration_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Observers on, activation fake quant off, weight fake quant on; restored on exit."""
    with restore_state(model):
        for quantizer in fake_quantizers(model):
            quantizer.set_observe(not quantizer.frozen)
            quantizer.set_fake_quant(quantizer.role == "weight")
        yield model


@contextlib.contextmanager
def training_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Train mode with observers and fake quant on (QAT, straight-through gradients); restored on exit."""
    with restore_state(model):
        model.train()
        for quantizer in fake_quantizers(model):
            quantizer.set_observe(not quantizer.frozen)
            quantizer.set_fake_quant(True)
        yield model


def set_observers(model: nn.Module, enabled: bool) -> None:
    """Turn every observer on or off."""
    for quantizer in fake_quantizers(model):
        quantizer.set_observe(enabled and not quantizer.frozen)


def freeze_activations(model: nn.Module) -> None:
    """Fix every activation quantizer's qparams and stop observing.

    Raises PlanError naming every quantizer whose observer never saw data, before changing any.
    """
    activations = [
        quantizer for quantizer in fake_quantizers(model) if quantizer.role == "activation"
    ]
    missing = [quantizer.key for quantizer in activations if not quantizer.has_qparams]
    if missing:
        raise PlanError(
            [
                ErrorDetail(
                    path=key,
                    message=(
                        f"the observer of {key} never saw data, so it has no qparams. Run calibration "
                        "batches that reach this tensor (quantplan.calibrate) before finalizing or freezing."
                    ),
                )
                for key in missing
            ]
        )
    for quantizer in activations:
        quantizer.freeze()
        quantizer.set_observe(False)
