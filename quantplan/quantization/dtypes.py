"""Element and scale dtypes that a quantization spec accepts, with their ranges.

Example: `element_type("torch.int4")` returns the int4 entry (4 bits, signed, range [-8, 7]).
"""

from __future__ import annotations

import attrs
import torch

from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.fields import excerpt

__all__ = [
    "ELEMENT_TYPES",
    "SCALE_DTYPE_NAMES",
    "ElementType",
    "dtype_name",
    "element_type",
    "normalize_element_dtype",
    "normalize_scale_dtype",
]


@attrs.frozen
class ElementType:
    """A quantized element format.

    `mx_exponent_offset` is T in the e8m0 scale rule `2^(floor(log2 amax) - T)`; it is None
    for formats that cannot take power-of-two scales.
    """

    name: str
    dtype: torch.dtype
    bits: int
    is_float: bool
    signed: bool
    fmax: float | None = None
    mx_exponent_offset: int | None = None

    def integer_range(self, *, clipped: bool) -> tuple[int, int]:
        """Return (qmin, qmax); `clipped` drops the most negative code of signed types."""
        if self.signed:
            low, high = -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1
            return (low + 1, high) if clipped else (low, high)
        return 0, 2**self.bits - 1


def _int(name: str, bits: int, signed: bool, offset: int | None = None) -> ElementType:
    return ElementType(name, getattr(torch, name), bits, False, signed, None, offset)


ELEMENT_TYPES: dict[str, ElementType] = {
    entry.name: entry
    for entry in (
        _int("int8", 8, True, 6),
        _int("uint8", 8, False),
        _int("int4", 4, True),
        _int("uint4", 4, False),
        _int("int2", 2, True),
        _int("uint2", 2, False),
        ElementType("float8_e4m3fn", torch.float8_e4m3fn, 8, True, True, 448.0, 8),
        ElementType("float8_e5m2", torch.float8_e5m2, 8, True, True, 57344.0, 15),
        ElementType("float4_e2m1fn_x2", torch.float4_e2m1fn_x2, 4, True, True, 6.0, 2),
    )
}

_ELEMENT_ALIASES = {
    "float8_e4m3": "float8_e4m3fn",
    "float4_e2m1fn": "float4_e2m1fn_x2",
    "float4_e2m1": "float4_e2m1fn_x2",
    "qint8": "int8",
    "quint8": "uint8",
}

SCALE_DTYPE_NAMES = {"float8_e8m0fnu": torch.float8_e8m0fnu}
_SCALE_ALIASES = {"float8_e8m0": "float8_e8m0fnu"}

_BY_DTYPE = {entry.dtype: entry for entry in ELEMENT_TYPES.values()}
_BY_DTYPE[torch.qint8] = ELEMENT_TYPES["int8"]
_BY_DTYPE[torch.quint8] = ELEMENT_TYPES["uint8"]


def dtype_name(dtype: torch.dtype) -> str:
    """Return the canonical name without the `torch.` prefix, such as `int4`."""
    return str(dtype).removeprefix("torch.")


def _strip(name: str) -> str:
    return name.strip().removeprefix("torch.")


def element_type(value: object) -> ElementType:
    """Look up the element format for a torch dtype or one of its accepted names.

    Raises ConfigError (path `dtype`) listing the valid names.
    """
    if isinstance(value, torch.dtype) and value in _BY_DTYPE:
        return _BY_DTYPE[value]
    if isinstance(value, str):
        name = _ELEMENT_ALIASES.get(_strip(value), _strip(value))
        if name in ELEMENT_TYPES:
            return ELEMENT_TYPES[name]
    raise ConfigError(_invalid_dtype(value))


def _invalid_dtype(value: object) -> ErrorDetail:
    valid = tuple(ELEMENT_TYPES)
    shown = dtype_name(value) if isinstance(value, torch.dtype) else value
    if isinstance(value, str | torch.dtype) and _strip(str(shown)) == "float8_e8m0fnu":
        reason = "float8_e8m0fnu is a scale type only; set it as scale_dtype."
    else:
        reason = "Use one of: " + ", ".join(valid) + "."
    return ErrorDetail(
        path="dtype",
        message=f"unsupported dtype {excerpt(shown)}. {reason}",
        value=value,
        expected=valid,
        suggestion=_closest(str(shown), valid),
    )


def normalize_element_dtype(value: object) -> torch.dtype:
    """Converter for `QuantizationSpec.dtype`."""
    return element_type(value).dtype


def normalize_scale_dtype(value: object) -> torch.dtype | None:
    """Converter for `QuantizationSpec.scale_dtype`: None or float8_e8m0fnu."""
    if value is None or value == torch.float8_e8m0fnu:
        return value
    if isinstance(value, str):
        name = _SCALE_ALIASES.get(_strip(value), _strip(value))
        if name in SCALE_DTYPE_NAMES:
            return SCALE_DTYPE_NAMES[name]
    shown = dtype_name(value) if isinstance(value, torch.dtype) else value
    raise ConfigError(
        ErrorDetail(
            path="scale_dtype",
            message=(
                f"unsupported scale_dtype {excerpt(shown)}. Use null (float32 scales) or "
                "float8_e8m0fnu (power-of-two scales)."
            ),
            value=value,
            expected=("null", "float8_e8m0fnu"),
        )
    )


def _closest(word: str, candidates: tuple[str, ...]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None
