"""`QuantizationScheme` and `QFormulation`: integer range placement and offset storage."""

from __future__ import annotations

import enum

__all__ = ["QFormulation", "QuantizationScheme"]


class QuantizationScheme(str, enum.Enum):
    """How the integer range is placed around zero."""

    SYMMETRIC = "symmetric"
    SYMMETRIC_WITH_CLIPPING = "symmetric_with_clipping"
    ASYMMETRIC = "asymmetric"

    def __str__(self) -> str:
        return self.value


class QFormulation(str, enum.Enum):
    """`zp` stores a zero point; `minval` stores the range minimum as an offset instead."""

    ZP = "zp"
    MINVAL = "minval"

    def __str__(self) -> str:
        return self.value
