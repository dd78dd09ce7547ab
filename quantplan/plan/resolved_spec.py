"""`ResolvedSpec` and `ResolvedGranularity`: the concrete spec of one plan entry."""

from __future__ import annotations

import attrs
import torch

from quantplan.plan._converters import int_tuple
from quantplan.quantization.dtypes import dtype_name
from quantplan.quantization.granularity import (
    PerBlockGranularity,
    PerChannelGranularity,
    PerTensorGranularity,
)
from quantplan.quantization.spec import QuantizationSpec

__all__ = ["ResolvedGranularity", "ResolvedSpec"]


@attrs.frozen
class ResolvedGranularity:
    """A granularity with nothing left to resolve.

    `per_tensor`: axis and block_size are None. `per_channel`: axis is an int, block_size None.
    `per_block`: either axis is an int and block_size an int (blocks along that axis), or axis
    is None and block_size is a tuple with one extent per dimension (-1 = whole dimension).
    """

    type: str
    axis: int | None = None
    block_size: int | tuple[int, ...] | None = attrs.field(
        default=None, converter=lambda value: tuple(value) if isinstance(value, list) else value
    )

    def to_granularity(self) -> PerTensorGranularity | PerChannelGranularity | PerBlockGranularity:
        """Return the config-API granularity with this concrete axis and block size."""
        if self.type == "per_tensor":
            return PerTensorGranularity()
        if self.type == "per_channel":
            return PerChannelGranularity(axis=self.axis)
        return PerBlockGranularity(block_size=self.block_size, axis=self.axis)


@attrs.frozen
class ResolvedSpec:
    """A concrete spec for one tensor: every default and axis resolved by the compiler.

    `block_shape` has the tensor's rank and gives the extent of the elements that share one
    scale; `scale_shape` is the tensor shape divided by it. Example: an int4 per-block (32)
    Linear weight of shape (128, 64) has block_shape (1, 32) and scale_shape (128, 2).
    A dynamic activation dimension appears as its symbol name (such as `s0`).
    `scale_dtype` is `float32` or `float8_e8m0fnu`; `scale_rounding` is `floor` for e8m0
    scales and None otherwise; the calculators are resolved registry names (never `default`).
    """

    dtype: str
    qscheme: str
    qformulation: str
    granularity: ResolvedGranularity
    block_shape: tuple[int | str, ...] = attrs.field(converter=int_tuple)
    scale_shape: tuple[int | str, ...] = attrs.field(converter=int_tuple)
    quant_min: int | float
    quant_max: int | float
    scale_dtype: str
    scale_rounding: str | None
    qparam_calculator_cls: str
    range_calculator_cls: str
    float_range: tuple[float | None, float | None] = attrs.field(converter=int_tuple)
    rounding: str = "half_to_even"

    @classmethod
    def from_spec(
        cls,
        spec: QuantizationSpec,
        *,
        granularity: ResolvedGranularity,
        block_shape: tuple[int | str, ...],
        scale_shape: tuple[int | str, ...],
        qparam_calculator_cls: str,
    ) -> ResolvedSpec:
        """Build the resolved form of `spec`; the caller supplies what depends on the op and role."""
        scale_dtype = dtype_name(spec.effective_scale_dtype)
        return cls(
            dtype=dtype_name(spec.dtype),
            qscheme=spec.qscheme.value,
            qformulation=spec.qformulation.value,
            granularity=granularity,
            block_shape=block_shape,
            scale_shape=scale_shape,
            quant_min=spec.quant_min,
            quant_max=spec.quant_max,
            scale_dtype=scale_dtype,
            scale_rounding="floor" if scale_dtype == "float8_e8m0fnu" else None,
            qparam_calculator_cls=qparam_calculator_cls,
            range_calculator_cls=spec.range_calculator_cls,
            float_range=spec.float_range,
        )

    def to_quantization_spec(self) -> QuantizationSpec:
        """Return the equivalent QuantizationSpec, with the concrete axis and block size."""
        scale_dtype = torch.float8_e8m0fnu if self.scale_dtype == "float8_e8m0fnu" else None
        return QuantizationSpec(
            dtype=self.dtype,
            qscheme=self.qscheme,
            qformulation=self.qformulation,
            granularity=self.granularity.to_granularity(),
            qparam_calculator_cls=self.qparam_calculator_cls,
            range_calculator_cls=self.range_calculator_cls,
            float_range=self.float_range,
            scale_dtype=scale_dtype,
        )
