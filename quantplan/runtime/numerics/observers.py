"""Observers: running per-block ranges over calibration batches, turned into qparams.

Calculators:
- `static` and `dynamic`: the range of the latest tensor only;
- `global_minmax`: element-wise running min of the lows and max of the highs;
- `moving_average`: the first batch initialises the range, then
  `r = fl(fl(c * new) + fl(c' * r))` with c = float32(0.01) and c' = float32(0.99), in float32;
- `default`: `static` for weights, `moving_average` for activations.

Running ranges are stored in float32. `qparams()` casts them to the arithmetic dtype of the
latest input (bfloat16 and float16 inputs keep their own arithmetic) and applies the rules
of `scales`. NaN and +/-inf in the data are ignored by the range: the observer counts
them in `nan_count` and `inf_count` and logs one warning per observer. A batch with no
finite values leaves the running range unchanged, and so does a block without any finite
value in a per-channel or per-block observer.
"""

from __future__ import annotations

import logging

import torch

from quantplan.errors import ErrorDetail, PlanError
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.numerics.blocks import to_blocks
from quantplan.runtime.numerics.fake_quant import tensor_block_shape
from quantplan.runtime.numerics.measure import measure_range
from quantplan.runtime.numerics.ranges import (
    BlockRange,
    apply_float_range,
    arithmetic_dtype,
    reduce_dims,
)
from quantplan.runtime.numerics.results import QParams
from quantplan.runtime.numerics.roles import resolve_calculator
from quantplan.runtime.numerics.scales import qparams_from_range

__all__ = ["AVERAGING_CONSTANT", "Observer", "make_observer"]

logger = logging.getLogger(__name__)

AVERAGING_CONSTANT = 0.01


def make_observer(spec: QuantizationSpec, *, role: str, name: str | None = None) -> Observer:
    """Build the observer for `spec` and `role`; raise ConfigError for invalid pairs.

    `name` (for example `ops/linear_1/inputs/0`) labels warnings and errors.
    """
    calculator = resolve_calculator(spec, role, name)
    return Observer(spec, role=role, calculator=calculator, name=name)


class Observer:
    """Running range of one tensor and the qparams derived from it."""

    def __init__(
        self, spec: QuantizationSpec, *, role: str, calculator: str, name: str | None = None
    ):
        self.spec = spec
        self.role = role
        self.calculator = calculator
        self.name = name
        self.block_shape: tuple[int, ...] | None = None
        self.running_min: torch.Tensor | None = None
        self.running_max: torch.Tensor | None = None
        self.nan_count = 0
        self.inf_count = 0
        self.batch_count = 0
        self._arithmetic_dtype = torch.float32

    def observe(self, x: torch.Tensor) -> None:
        """Update the running range with the tensor `x`."""
        block = tensor_block_shape(x, self.spec, self.role, None, self.name)
        role = self._range_role()
        finite_blocks = None
        if role == "activation" and not bool(torch.isfinite(x).all()):
            self._count_nonfinite(x)
            if not bool(torch.isfinite(x).any()):
                return
            finite_blocks = _finite_blocks(x, block)
            x = torch.where(torch.isinf(x), torch.full_like(x, float("nan")), x)
        measured = measure_range(x, self.spec, block, role=role, name=self.name)
        self._check_grid(block, measured)
        lo, hi = measured.lo.to(torch.float32), measured.hi.to(torch.float32)
        if finite_blocks is not None and self.running_min is not None:
            # A block without finite values in this batch keeps its running range.
            lo = torch.where(finite_blocks, lo, self.running_min)
            hi = torch.where(finite_blocks, hi, self.running_max)
        self._update(lo, hi)
        self.block_shape = block
        self._arithmetic_dtype = arithmetic_dtype(x.dtype)
        self.batch_count += 1

    def qparams(self) -> QParams:
        """Compute the qparams from the running range; PlanError if nothing was observed."""
        if self.running_min is None or self.running_max is None:
            raise PlanError(
                ErrorDetail(
                    path=self.name or "<tensor>",
                    message=(
                        "the observer has seen no data, so it has no qparams. Run calibration "
                        "batches that reach this tensor, or load calibrated qparams."
                    ),
                )
            )
        lo = self.running_min.to(self._arithmetic_dtype)
        hi = self.running_max.to(self._arithmetic_dtype)
        lo, hi = apply_float_range(lo, hi, self.spec.float_range)
        return qparams_from_range(lo, hi, self.spec)

    def _range_role(self) -> str:
        # Only a static weight must be finite; other calculators see calibration data.
        return "weight" if self.role == "weight" and self.calculator == "static" else "activation"

    def _update(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        if self.running_min is None or self.calculator in ("static", "dynamic"):
            self.running_min, self.running_max = lo, hi
        elif self.calculator == "global_minmax":
            self.running_min = torch.minimum(self.running_min, lo)
            self.running_max = torch.maximum(self.running_max, hi)
        else:
            self.running_min = _moving_average(self.running_min, lo)
            self.running_max = _moving_average(self.running_max, hi)  # type: ignore[arg-type]

    def _check_grid(self, block: tuple[int, ...], measured: BlockRange) -> None:
        if self.running_min is None or self.running_min.shape == measured.lo.shape:
            return
        raise PlanError(
            ErrorDetail(
                path=self.name or "<tensor>",
                message=(
                    f"the block grid changed from {list(self.running_min.shape)} to "
                    f"{list(measured.lo.shape)} (block shape {list(block)}); per-channel and "
                    "per-block observers need the same shape along quantized dimensions "
                    "in every batch."
                ),
            )
        )

    def _count_nonfinite(self, x: torch.Tensor) -> None:
        nan_count = int(torch.isnan(x).sum())
        inf_count = int(torch.isinf(x).sum())
        if not (self.nan_count or self.inf_count):
            logger.warning(
                "%s: calibration data contains non-finite values (%d NaN, %d inf in this "
                "batch); the range ignores them.",
                self.name or "<tensor>",
                nan_count,
                inf_count,
            )
        self.nan_count += nan_count
        self.inf_count += inf_count


def _finite_blocks(x: torch.Tensor, block: tuple[int, ...]) -> torch.Tensor:
    """Return, per block of the block grid, whether the block holds any finite value."""
    finite = to_blocks(torch.isfinite(x).to(torch.float32), block)
    return torch.amax(finite, dim=reduce_dims(finite)) > 0


def _moving_average(running: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    constant = torch.tensor(AVERAGING_CONSTANT, dtype=torch.float32, device=new.device)
    complement = torch.tensor(0.99, dtype=torch.float32, device=new.device)
    return constant * new + complement * running
