"""Result records of the numerics: `QParams` and `FakeQuantResult`.

For a weight of shape (64, 128) quantized per block of 32 along axis 1, the scale has the
block-grid shape (64, 4): the input shape divided element-wise by the block shape, same rank.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import torch

__all__ = ["FakeQuantResult", "QParams"]


@attrs.frozen(eq=False)
class QParams:
    """Quantization parameters of one tensor, one entry per block.

    `scale` is float32 with the block-grid shape. `zero_point` is int32 of the same shape, or
    None for float formats (fp8, fp4). `minval` is the float32 range offset of the `minval`
    formulation (-amax for symmetric schemes, the range minimum for asymmetric), or None for
    float formats. Unpacks as `(scale, zero_point)`.
    """

    scale: torch.Tensor
    zero_point: torch.Tensor | None
    minval: torch.Tensor | None = None

    def __iter__(self) -> Iterator[torch.Tensor | None]:
        return iter((self.scale, self.zero_point))


@attrs.frozen(eq=False)
class FakeQuantResult:
    """A fake-quantized tensor with the qparams that produced it.

    `output` has the input's dtype and shape. Unpacks as `(output, scale, zero_point)`.
    """

    output: torch.Tensor
    qparams: QParams

    @property
    def scale(self) -> torch.Tensor:
        """The float32 scale, one entry per block."""
        return self.qparams.scale

    @property
    def zero_point(self) -> torch.Tensor | None:
        """The int32 zero point, or None for float formats."""
        return self.qparams.zero_point

    @property
    def minval(self) -> torch.Tensor | None:
        """The float32 minval offset, or None for float formats."""
        return self.qparams.minval

    def __iter__(self) -> Iterator[torch.Tensor | None]:
        return iter((self.output, self.scale, self.zero_point))
