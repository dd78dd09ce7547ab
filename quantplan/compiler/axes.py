"""Default weight axes, block shapes and scale shapes.

Default axes by weight layout, for a spec whose granularity omits `axis`:

| layout                  | op                        | per_channel | per_block |
|-------------------------|---------------------------|-------------|-----------|
| `out_in`                | linear, conv1d/2d/3d      | 0           | 1         |
| `in_out`                | linear on an HF Conv1D    | 1           | 0         |
| `in_out_conv_transpose` | conv_transpose1d/2d/3d    | 1           | 0         |
| `vocab_dim`             | embedding                 | 0           | 1         |

Scales keep the tensor's rank: a per-channel Linear weight (110, 100) on axis 0 has
block shape (1, 100) and scale shape (110, 1). Kernel dimensions of conv weights stay whole.
"""

from __future__ import annotations

import attrs

from quantplan.plan.model import ResolvedGranularity, ResolvedSpec
from quantplan.quantization.granularity import PerBlockGranularity, PerChannelGranularity
from quantplan.quantization.spec import QuantizationSpec

__all__ = [
    "DEFAULT_AXES",
    "AxisRequired",
    "Skip",
    "TensorRole",
    "expected_weight_rank",
    "resolve_tensor_spec",
]

DEFAULT_AXES = {
    "out_in": {"per_channel": 0, "per_block": 1},
    "in_out": {"per_channel": 1, "per_block": 0},
    "in_out_conv_transpose": {"per_channel": 1, "per_block": 0},
    "vocab_dim": {"per_channel": 0, "per_block": 1},
}

Shape = tuple[int | str, ...]


@attrs.frozen
class Skip:
    """Why a tensor that a rule asked to quantize stays in float."""

    reason: str


class AxisRequired(Exception):
    """The granularity omits `axis` and the tensor has no default axis. The message gives the reason."""


@attrs.frozen
class TensorRole:
    """What the axis resolution needs to know about a tensor besides its shape.

    `role` is `weight`, `bias`, `other` (parameters) or `activation`; `layout` the weight
    layout (see the module table); `groups` the conv groups (used by grouped ConvTranspose).
    """

    role: str
    op_type: str
    layout: str | None = None
    groups: int = 1


def expected_weight_rank(op_type: str) -> int | None:
    """Return the weight rank that an op type supports, or None when any rank is accepted."""
    if op_type in ("linear", "embedding"):
        return 2
    for prefix in ("conv_transpose", "conv"):
        if op_type.startswith(prefix) and op_type[len(prefix)] in "123":
            return int(op_type[len(prefix)]) + 2
    return None


def resolve_tensor_spec(
    spec: QuantizationSpec, shape: Shape, tensor: TensorRole
) -> ResolvedSpec | Skip:
    """Resolve `spec` for one tensor: concrete axis, block shape, scale shape and calculator.

    Returns a Skip for an incompatible shape and raises AxisRequired when the axis is
    omitted and the tensor has no default axis.
    """
    rank = len(shape)
    if tensor.role == "weight":
        expected = expected_weight_rank(tensor.op_type)
        if expected is not None and rank != expected:
            return Skip(
                f"unsupported rank-{rank} weight for {tensor.op_type} (expected rank {expected})"
            )
    granularity = spec.granularity
    if isinstance(granularity, PerChannelGranularity):
        shapes = _per_channel(granularity.axis, shape, tensor)
    elif isinstance(granularity, PerBlockGranularity):
        shapes = _per_block(granularity, shape, tensor)
    else:
        shapes = (ResolvedGranularity("per_tensor"), tuple(shape), (1,) * rank)
    if isinstance(shapes, Skip):
        return shapes
    resolved_granularity, block_shape, scale_shape = shapes
    return ResolvedSpec.from_spec(
        spec,
        granularity=resolved_granularity,
        block_shape=block_shape,
        scale_shape=scale_shape,
        qparam_calculator_cls=_calculator(spec, tensor.role),
    )


def _calculator(spec: QuantizationSpec, role: str) -> str:
    if spec.qparam_calculator_cls != "default":
        return spec.qparam_calculator_cls
    return "moving_average" if role == "activation" else "static"


def _axis(axis: int | None, kind: str, shape: Shape, tensor: TensorRole) -> int | Skip:
    rank = len(shape)
    if axis is None:
        axis = _default_axis(kind, tensor)
    if not -rank <= axis < rank:
        return Skip(f"axis {axis} is out of range for a rank-{rank} tensor of shape {list(shape)}")
    return axis % rank


def _default_axis(kind: str, tensor: TensorRole) -> int:
    in_table = expected_weight_rank(tensor.op_type) is not None
    if tensor.role == "weight" and tensor.layout in DEFAULT_AXES and in_table:
        return DEFAULT_AXES[tensor.layout][kind]
    if tensor.role == "activation":
        why = "activations never get a default axis"
    elif tensor.role == "weight":
        why = f"{tensor.op_type} is not in the default-axis table (linear, conv, conv_transpose, embedding)"
    else:
        why = f"{tensor.op_type} has no default axis for its {tensor.role} tensor"
    raise AxisRequired(
        f"{kind} granularity without an axis: {why}; set granularity.axis explicitly."
    )


def _per_channel(axis: int | None, shape: Shape, tensor: TensorRole):
    axis = _axis(axis, "per_channel", shape, tensor)
    if isinstance(axis, Skip):
        return axis
    if isinstance(shape[axis], str):
        return Skip(f"per_channel axis {axis} is the dynamic dimension {shape[axis]}")
    if tensor.layout == "in_out_conv_transpose" and axis == 1 and tensor.groups > 1:
        return _grouped_conv_transpose(shape, tensor.groups)
    block = tuple(1 if dim == axis else size for dim, size in enumerate(shape))
    scale = tuple(size if dim == axis else 1 for dim, size in enumerate(shape))
    return ResolvedGranularity("per_channel", axis=axis), block, scale


def _grouped_conv_transpose(shape: Shape, groups: int):
    """One scale per output channel of a grouped ConvTranspose weight (C_in, C_out/g, k...).

    The weight splits into g row groups: block (C_in/g, 1, k...), scale (g, C_out/g, 1...).
    """
    c_in, c_out_per_group, *kernel = shape
    block = (c_in // groups, 1, *kernel)
    scale = (groups, c_out_per_group, *(1 for _ in kernel))
    return ResolvedGranularity("per_channel", axis=1), block, scale


def _per_block(granularity: PerBlockGranularity, shape: Shape, tensor: TensorRole):
    if isinstance(granularity.block_size, tuple):
        return _per_block_tuple(granularity.block_size, shape)
    axis = _axis(granularity.axis, "per_block", shape, tensor)
    if isinstance(axis, Skip):
        return axis
    size, block_size = shape[axis], granularity.block_size
    if isinstance(size, str):
        return Skip(f"per_block axis {axis} is the dynamic dimension {size}")
    if size % block_size:
        return Skip(
            f"block_size {block_size} does not divide dimension {axis} of size {size} ({size} % {block_size} = {size % block_size})"
        )
    block = tuple(
        _block_extent(dim, size_d, axis, block_size, tensor) for dim, size_d in enumerate(shape)
    )
    scale = tuple(_divide(size_d, extent) for size_d, extent in zip(shape, block, strict=False))
    return ResolvedGranularity("per_block", axis=axis, block_size=block_size), block, scale


def _block_extent(
    dim: int, size: int | str, axis: int, block_size: int, tensor: TensorRole
) -> int | str:
    if dim == axis:
        return block_size
    # Kernel dimensions of a conv weight stay whole; every other dimension is unblocked.
    if tensor.role == "weight" and dim >= 2:
        return size
    return 1


def _divide(size: int | str, extent: int | str) -> int | str:
    if isinstance(size, str):
        return size if extent == 1 else 1
    return size // extent  # type: ignore[operator]


def _per_block_tuple(block_size: tuple[int, ...], shape: Shape):
    rank = len(shape)
    if len(block_size) != rank:
        return Skip(
            f"block_size {list(block_size)} has {len(block_size)} entries but the tensor has rank {rank}"
        )
    block = []
    for dim, (size, extent) in enumerate(zip(shape, block_size, strict=False)):
        if extent == -1:
            block.append(size)
        elif isinstance(size, str):
            return Skip(f"block_size entry {dim} cannot split the dynamic dimension {size}")
        elif size % extent:
            return Skip(f"block_size entry {extent} does not divide dimension {dim} of size {size}")
        else:
            block.append(extent)
    scale = tuple(_divide(size, extent) for size, extent in zip(shape, block, strict=False))
    return ResolvedGranularity("per_block", axis=None, block_size=block_size), tuple(block), scale
