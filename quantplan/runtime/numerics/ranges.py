"""Per-block ranges `(lo, hi)`, always widened to contain zero.

`lo = min(min(x), 0)` and `hi = max(max(x), 0)` per block, computed in the arithmetic dtype:
bfloat16 for bfloat16 inputs, float16 for float16 inputs and float32 otherwise.

Non-finite values: NaN is ignored by the reductions (a NaN-only block gets the range [0, 0]),
and +/-inf counts as the largest finite value of the arithmetic dtype, so a scale never
becomes NaN or inf. Callers that must reject non-finite data (weights) pass
`allow_nonfinite=False`, which raises PlanError naming the tensor.
"""

from __future__ import annotations

import attrs
import torch

from quantplan.errors import ErrorDetail, PlanError

__all__ = ["BlockRange", "apply_float_range", "arithmetic_dtype", "block_minmax", "reduce_dims"]

_LOW_PRECISION = (torch.bfloat16, torch.float16)


def arithmetic_dtype(dtype: torch.dtype) -> torch.dtype:
    """Return the dtype in which range and scale arithmetic runs for inputs of `dtype`."""
    return dtype if dtype in _LOW_PRECISION else torch.float32


def reduce_dims(blocks: torch.Tensor) -> tuple[int, ...]:
    """Return the in-block dims of a `to_blocks` view: 1, 3, 5, ..."""
    return tuple(range(1, blocks.dim(), 2))


@attrs.frozen(eq=False)
class BlockRange:
    """Per-block range, block-grid shaped, in the arithmetic dtype.

    `nonfinite` is True when the data contained NaN or inf. The range then ignores NaN and
    counts inf as the largest finite value.
    """

    lo: torch.Tensor
    hi: torch.Tensor
    nonfinite: bool = False


def block_minmax(
    blocks: torch.Tensor, *, allow_nonfinite: bool = True, name: str | None = None
) -> BlockRange:
    """Return the range of every block of a `to_blocks` view.

    `blocks` must already be in the arithmetic dtype. Clean data takes one pass per
    reduction; the non-finite handling runs only when a block range comes out non-finite.
    """
    dims = reduce_dims(blocks)
    lo, hi = _raw_minmax(blocks, dims)
    nonfinite = not bool(torch.isfinite(lo).all() and torch.isfinite(hi).all())
    if nonfinite:
        if not allow_nonfinite:
            _raise_nonfinite(blocks, name)
        lo, hi = _raw_minmax(torch.nan_to_num(blocks, nan=0.0), dims)
    zero = torch.zeros((), dtype=lo.dtype, device=lo.device)
    # Adding +0.0 turns a -0.0 minimum into +0.0, so zero ranges carry no sign.
    return BlockRange(torch.minimum(lo, zero) + 0.0, torch.maximum(hi, zero), nonfinite)


def apply_float_range(
    lo: torch.Tensor, hi: torch.Tensor, float_range: tuple[float | None, float | None]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace `lo` by min(bound, 0) and `hi` by max(bound, 0) where the spec fixes a bound."""
    low, high = float_range
    if low is not None:
        lo = torch.full_like(lo, min(low, 0.0))
    if high is not None:
        hi = torch.full_like(hi, max(high, 0.0))
    return lo, hi


def _raw_minmax(blocks: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.amin(blocks, dim=dims), torch.amax(blocks, dim=dims)


def _raise_nonfinite(blocks: torch.Tensor, name: str | None) -> None:
    nan_count = int(torch.isnan(blocks).sum())
    inf_count = int(torch.isinf(blocks).sum())
    raise PlanError(
        ErrorDetail(
            path=name or "<tensor>",
            message=(
                f"the weight contains non-finite values ({nan_count} NaN, {inf_count} inf), "
                "so it cannot be quantized. Fix or retrain the weight, "
                "or leave this tensor unquantized."
            ),
        )
    )
