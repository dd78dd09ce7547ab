"""Block layouts: which elements share one scale, and blocked views of a tensor.

A block shape has one extent per dimension of the tensor. Examples:

- per_tensor on (8, 16): (8, 16), one block;
- per_channel axis 0 on (8, 16): (1, 16), one block per row;
- per_block axis 1, size 32, weight role, on a conv weight (64, 128, 3, 3): (1, 32, 3, 3);
- per_block axis -1, size 16, activation role, on (2, 4, 32): (1, 1, 16);
- per_block block_size (1, 1, -1) on (4, 8, 16): (1, 1, 16).

The scale of a tensor has the block-grid shape `shape // block_shape`, with the same rank.
"""

from __future__ import annotations

import torch

from quantplan.errors import ErrorDetail, PlanError
from quantplan.quantization.granularity import (
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
)
from quantplan.quantization.spec import QuantizationSpec

__all__ = ["grid_shape", "resolve_block_shape", "scale_view_shape", "to_blocks"]


def resolve_block_shape(
    shape: tuple[int, ...] | torch.Size,
    spec: QuantizationSpec,
    role: str,
    *,
    name: str | None = None,
) -> tuple[int, ...]:
    """Return the block shape that `spec.granularity` and `role` give a tensor of `shape`.

    Raises PlanError naming the tensor when the axis is missing or out of range, or when a
    block size does not divide its dimension.
    """
    # A SymInt (a dynamic dimension while torch.export traces) stays symbolic: int() would
    # fix the dimension at its example size.
    shape = tuple(size if isinstance(size, torch.SymInt) else int(size) for size in shape)
    granularity = spec.granularity
    if isinstance(granularity, PerTensorGranularity):
        return shape
    if isinstance(granularity, PerChannelGranularity):
        axis = _normalize_axis(granularity.axis, shape, "per_channel", name)
        return tuple(1 if dim == axis else size for dim, size in enumerate(shape))
    if isinstance(granularity.block_size, tuple):
        block = _tuple_block_shape(granularity, shape, name)
    else:
        block = _axis_block_shape(granularity, shape, role, name)
    check_block_shape(shape, block, name=name)
    return block


def check_block_shape(
    shape: tuple[int, ...], block: tuple[int, ...], *, name: str | None = None
) -> None:
    """Raise PlanError unless `block` has the rank of `shape` and divides every dimension."""
    if len(block) != len(shape):
        _fail(
            name,
            f"block shape {list(block)} has rank {len(block)}, but the tensor shape "
            f"{list(shape)} has rank {len(shape)}.",
        )
    for dim, (size, extent) in enumerate(zip(shape, block, strict=True)):
        if extent < 1 or size % extent != 0:
            _fail(
                name,
                f"block size {extent} does not divide dimension {dim} of size {size} "
                f"(tensor shape {list(shape)}). Choose a block size that divides {size}, "
                "or leave this tensor unquantized.",
            )


def grid_shape(shape: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    """Return the scale shape: the number of blocks along each dimension."""
    return tuple(size // extent for size, extent in zip(shape, block, strict=True))


def to_blocks(x: torch.Tensor, block: tuple[int, ...]) -> torch.Tensor:
    """View `x` of shape (d0, d1, ...) as (d0/b0, b0, d1/b1, b1, ...).

    The odd dims index inside a block, the even dims index the blocks.
    """
    split: list[int] = []
    for size, extent in zip(x.shape, block, strict=True):
        split += [size // extent, extent]
    return x.reshape(split)


def scale_view_shape(grid: tuple[int, ...]) -> tuple[int, ...]:
    """Return the shape (n0, 1, n1, 1, ...) that broadcasts a scale over `to_blocks` output."""
    view: list[int] = []
    for count in grid:
        view += [count, 1]
    return tuple(view)


def _normalize_axis(axis: int | None, shape: tuple[int, ...], kind: str, name: str | None) -> int:
    if axis is None:
        _fail(
            name,
            f"{kind} granularity needs a concrete axis here; set granularity.axis "
            "(the compiler fills the default axis per op).",
        )
    rank = len(shape)
    if not -rank <= axis < rank:
        _fail(
            name,
            f"{kind} axis {axis} is out of range for a tensor of shape {list(shape)} "
            f"(rank {rank}); use an axis in [{-rank}, {rank - 1}].",
        )
    return axis % rank


def _tuple_block_shape(
    granularity: PerBlockGranularity, shape: tuple[int, ...], name: str | None
) -> tuple[int, ...]:
    sizes = granularity.block_size
    if len(sizes) != len(shape):  # type: ignore[arg-type]
        _fail(
            name,
            f"block_size {list(sizes)} has {len(sizes)} entries but the tensor shape "
            f"{list(shape)} has rank {len(shape)}; give one entry per dimension "
            "(-1 = whole dimension).",
        )  # type: ignore[arg-type]
    return tuple(
        size if extent == -1 else extent for size, extent in zip(shape, sizes, strict=True)
    )  # type: ignore[arg-type]


def _axis_block_shape(
    granularity: PerBlockGranularity, shape: tuple[int, ...], role: str, name: str | None
) -> tuple[int, ...]:
    axis = _normalize_axis(granularity.axis, shape, "per_block", name)
    extent = int(granularity.block_size)  # type: ignore[arg-type]
    if role == "weight":
        # The other of the two leading dims gets extent 1, and kernel dims (index >= 2) stay whole.
        block = [1 if dim < 2 else size for dim, size in enumerate(shape)]
    else:
        block = [1] * len(shape)
    block[axis] = extent
    return tuple(block)


def _fail(name: str | None, message: str) -> None:
    label = name or "<tensor>"
    raise PlanError(ErrorDetail(path=label, message=message))
