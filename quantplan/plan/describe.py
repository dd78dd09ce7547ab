"""Short human-readable descriptions of specs and entries, shared by diff and explain."""

from __future__ import annotations

from quantplan.plan.model import ResolvedSpec

__all__ = ["describe_granularity", "describe_spec", "entry_label", "format_shape"]

_DETAIL_FIELDS = (
    "qscheme",
    "qformulation",
    "quant_min",
    "quant_max",
    "scale_dtype",
    "scale_rounding",
    "qparam_calculator_cls",
    "range_calculator_cls",
    "float_range",
    "rounding",
)


def format_shape(shape: tuple) -> str:
    """Format a shape as `[100, 128]`."""
    return "[" + ", ".join(str(dim) for dim in shape) + "]"


def describe_granularity(spec: ResolvedSpec) -> str:
    """Describe the granularity, such as `per_block(axis 1, block 32)` or `per_channel(axis 0)`."""
    granularity = spec.granularity
    if granularity.type == "per_channel":
        return f"per_channel(axis {granularity.axis})"
    if granularity.type == "per_block":
        if isinstance(granularity.block_size, tuple):
            return f"per_block(block {format_shape(granularity.block_size)})"
        return f"per_block(axis {granularity.axis}, block {granularity.block_size})"
    return granularity.type


def describe_spec(spec: ResolvedSpec | None, other: ResolvedSpec | None = None) -> str:
    """Describe `spec` in one line: `int4 per_block(axis 1, block 32), scale [100, 4]`.

    Fields outside dtype, granularity and shapes are listed only where they differ from `other`,
    so that a change to, say, the qscheme alone is still visible.
    """
    if spec is None:
        return "float"
    text = f"{spec.dtype} {describe_granularity(spec)}, scale {format_shape(spec.scale_shape)}"
    if other is not None:
        details = [
            f"{name} {_value(getattr(spec, name))}"
            for name in _DETAIL_FIELDS
            if getattr(spec, name) != getattr(other, name)
        ]
        if details:
            text += " (" + ", ".join(details) + ")"
    return text


def _value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return str(value)


def entry_label(group: str, key: int | str) -> str:
    """Name an entry within its op or module: `input 0`, `output 1` or `state weight`."""
    if group == "inputs":
        return f"input {key}"
    if group == "outputs":
        return f"output {key}"
    return f"state {key}"
