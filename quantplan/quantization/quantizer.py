"""`Quantizer`: the config-API facade over compile, apply, calibrate, QAT, freeze and finalize.

quantizer = Quantizer(model, config)
prepared = quantizer.prepare(example_inputs)   # compile + apply fake quant + one observation
quantplan.calibrate(prepared, batches)         # or: with quantizer.calibration_mode(): ...
quantizer.freeze("frozen/")                    # plan.json + qparams.safetensors
model = quantizer.finalize(backend="torch")    # or the default real backend, "quantplan"
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from quantplan.errors import ConfigError, ErrorDetail, PlanError
from quantplan.quantization.config import QuantizerConfig

__all__ = ["BACKENDS", "Quantizer", "coerce_config"]

BACKENDS = ("quantplan", "torch")


class Quantizer:
    """Quantize `model` as `config` says (a QuantizerConfig, a dict, or a YAML path or text)."""

    def __init__(self, model: nn.Module, config: QuantizerConfig | dict | str | Path | None = None):
        if not isinstance(model, nn.Module):
            raise ConfigError(
                ErrorDetail(
                    path="model",
                    message=f"model must be a torch.nn.Module, got {type(model).__name__}.",
                )
            )
        self.model = model
        self.config = coerce_config(config)
        self._plan = None
        self._prepared: nn.Module | None = None
        self._finalized_backend: str | None = None

    @property
    def plan(self):
        """The compiled Plan; PlanError before `prepare`."""
        if self._plan is None:
            raise PlanError(
                ErrorDetail(
                    path="plan",
                    message="no plan yet; call Quantizer.prepare(example_inputs) first.",
                )
            )
        return self._plan

    @property
    def prepared_model(self) -> nn.Module:
        """The model returned by `prepare`; PlanError before it."""
        if self._prepared is None:
            raise PlanError(
                ErrorDetail(
                    path="model",
                    message="the model is not prepared; call Quantizer.prepare(example_inputs) first.",
                )
            )
        return self._prepared

    def prepare(
        self, example_inputs: Any, *, strict: bool = False, dynamic_shapes: Any = None
    ) -> nn.Module:
        """Compile the plan, apply fake quantization and observe `example_inputs` once.

        Graph-mode configs return a new GraphModule; eager-mode configs change the model in
        place. Afterwards observers are off: use `calibration_mode()` or `quantplan.calibrate`
        to observe more data, and `training_mode()` for QAT. The first batch observed after
        `prepare` replaces the range of `example_inputs` instead of averaging with it.
        """
        from quantplan.compiler import compile_plan
        from quantplan.runtime.apply import apply_plan
        from quantplan.runtime.calibrate import run_batch
        from quantplan.runtime.fake.control import calibration_mode, fake_quantizers, set_observers

        self._check_not_finalized("prepare")
        if self._prepared is not None:
            raise PlanError(
                ErrorDetail(
                    path="model",
                    message="this Quantizer already prepared its model; create a new Quantizer for another plan.",
                )
            )
        plan = compile_plan(
            self.model, example_inputs, self.config, strict=strict, dynamic_shapes=dynamic_shapes
        )
        prepared = apply_plan(self.model, plan, example_inputs=example_inputs)
        with calibration_mode(prepared), torch.no_grad():
            prepared.eval()
            run_batch(prepared, example_inputs)
        set_observers(prepared, False)
        for quantizer in fake_quantizers(prepared):
            quantizer.mark_provisional()
        self._plan, self._prepared = plan, prepared
        return prepared

    def calibration_mode(self) -> contextlib.AbstractContextManager[nn.Module]:
        """Context manager: observers on, activation fake quant off, weight fake quant on."""
        from quantplan.runtime.fake.control import calibration_mode

        return calibration_mode(self.prepared_model)

    def training_mode(self) -> contextlib.AbstractContextManager[nn.Module]:
        """Context manager for QAT: train mode, observers and fake quant on; the state before is restored on exit."""
        from quantplan.runtime.fake.control import training_mode

        return training_mode(self.prepared_model)

    def calibrate(self, batches: Iterable[Any], *, progress: bool = True):
        """Observe `batches` (see `quantplan.calibrate`) and return its CalibrationReport."""
        from quantplan.runtime.calibrate import calibrate

        self._check_not_finalized("calibrate")
        return calibrate(self.prepared_model, batches, progress=progress)

    def qparams(self) -> dict[str, torch.Tensor]:
        """Return the current qparams keyed as in `qparams.safetensors`."""
        from quantplan.runtime.frozen import collect_qparams

        return collect_qparams(self.prepared_model)

    def freeze(self, directory: str | Path) -> Path:
        """Write `directory/plan.json` and `directory/qparams.safetensors` (a frozen plan)."""
        from quantplan.runtime.frozen import PLAN_FILE, save_qparams

        qparams = self.qparams()
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        self.plan.save(target / PLAN_FILE)
        save_qparams(target, self.plan, qparams)
        return target

    def finalize(self, backend: str = "quantplan") -> nn.Module:
        """Fix the calibrated qparams and return the deployable model.

        `quantplan` converts to packed weights and real kernels. `torch` folds each batch norm
        into the quantized conv before it (qparams then come from the folded weight), folds
        fake-quantized weights into the float parameters and keeps activation fake quant with
        fixed qparams.
        Raises PlanError naming every activation whose observer never saw data.
        """
        if backend not in BACKENDS:
            raise ConfigError(
                ErrorDetail(
                    path="backend",
                    message=f"backend {backend!r} is invalid; use one of: {', '.join(BACKENDS)}.",
                )
            )
        self._check_not_finalized("finalize")
        from quantplan.runtime.fake.control import freeze_activations
        from quantplan.runtime.fake.fold import fold_weights
        from quantplan.runtime.fake.fold_batch_norm import fold_batch_norms

        prepared = self.prepared_model
        freeze_activations(prepared)
        if backend == "torch":
            fold_batch_norms(prepared, self.plan)
            fold_weights(prepared)
            self._finalized_backend = backend
            return prepared.eval()
        from quantplan.runtime.real import convert

        converted = convert(prepared, self.plan, self.qparams())
        self._finalized_backend = backend
        return converted

    def _check_not_finalized(self, step: str) -> None:
        if self._finalized_backend is None:
            return
        raise PlanError(
            ErrorDetail(
                path="model",
                message=(
                    f"cannot {step}: the model is already finalized (backend {self._finalized_backend!r}). "
                    "Create a new Quantizer from the float model to quantize it again."
                ),
            )
        )


def coerce_config(config: QuantizerConfig | dict | str | Path | None) -> QuantizerConfig:
    """Convert a QuantizerConfig, a dict, a YAML path or YAML text to a QuantizerConfig.

    None gives the default config. Any other type raises ConfigError naming the type.
    """
    if config is None:
        return QuantizerConfig()
    if isinstance(config, QuantizerConfig):
        return config
    if isinstance(config, dict):
        return QuantizerConfig.from_dict(config)
    if isinstance(config, (str, Path)):
        return QuantizerConfig.from_yaml(config)
    raise ConfigError(
        ErrorDetail(
            path="config",
            message=f"config must be a QuantizerConfig, a dict, or a YAML path or text, got {type(config).__name__}.",
        )
    )
