"""`calibrate`: run calibration batches through a prepared model, with a progress bar."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import torch
from torch import nn
from tqdm.auto import tqdm

from quantplan.errors import ErrorDetail, PlanError
from quantplan.runtime.fake.control import calibration_mode, fake_quantizers

__all__ = ["CalibrationReport", "calibrate", "run_batch"]


@attrs.frozen
class CalibrationReport:
    """What calibration saw: the batch count and, per quantizer key, the NaN and inf values it ignored."""

    batches: int
    nan_counts: dict[str, int]
    inf_counts: dict[str, int] = attrs.field(factory=dict)

    @property
    def diagnostics(self) -> list[str]:
        """One line per tensor whose calibration data held NaN or inf."""
        keys = sorted(set(self.nan_counts) | set(self.inf_counts))
        return [
            f"{key}: {self.nan_counts.get(key, 0)} NaN and {self.inf_counts.get(key, 0)} inf values "
            "in calibration data were ignored by the range"
            for key in keys
        ]


def calibrate(
    model: nn.Module,
    batches: Iterable[Any],
    *,
    progress: bool = True,
    description: str = "calibrating",
) -> CalibrationReport:
    """Observe `batches` in calibration mode (observers on, activation fake quant off).

    A batch that is a tuple or list is passed as positional arguments, a dict as keyword
    arguments, an `(args, kwargs)` pair as both, anything else as the one argument.
    Quantizer switches and the train/eval mode are restored afterwards.
    """
    if not fake_quantizers(model):
        raise PlanError(
            ErrorDetail(
                path="model",
                message="the model has no quantizers; apply a plan (quantplan.apply_plan or Quantizer.prepare) before calibrating.",
            )
        )
    count = 0
    with calibration_mode(model), torch.no_grad():
        model.eval()
        for batch in tqdm(batches, desc=description, disable=not progress, unit="batch"):
            run_batch(model, batch)
            count += 1
    quantizers = fake_quantizers(model)
    nan_counts = {
        quantizer.key: quantizer.nan_count for quantizer in quantizers if quantizer.nan_count
    }
    inf_counts = {
        quantizer.key: quantizer.inf_count for quantizer in quantizers if quantizer.inf_count
    }
    return CalibrationReport(batches=count, nan_counts=nan_counts, inf_counts=inf_counts)


def run_batch(model: nn.Module, batch: Any) -> Any:
    """Call `model` on one batch, unpacked as `calibrate` describes."""
    if isinstance(batch, dict):
        return model(**batch)
    if (
        isinstance(batch, tuple)
        and len(batch) == 2
        and isinstance(batch[0], tuple)
        and isinstance(batch[1], dict)
    ):
        return model(*batch[0], **batch[1])
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)
