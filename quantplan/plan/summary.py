"""The plan summary: candidate-weight counts, bytes before and after, effective bits per weight.

Candidate weights are the state entries of every op. A parameter reached by several ops, or
tied to others in a shared group, is counted once. Bytes after quantization count:

- the codes packed to `bits` per element along the last dimension, each row rounded up to
  whole bytes (so an int4 weight with an odd last dimension carries one padding nibble per row),
  which is the layout of the packed real format;
- one scale per element of `scale_shape`, at 4 bytes for float32 and 1 for float8_e8m0fnu;
- for `asymmetric` specs with `qformulation: zp`, one zero point per scale, stored unpacked in
  one byte (an int8/uint8 container, also for 4- and 2-bit dtypes). Symmetric specs store no
  zero points, because theirs is a constant;
- for `qformulation: minval`, one minval per scale at the scale's size.

A weight left in float counts at its own dtype's size both before and after.

NOTE: the packed real format also stores an int8 zero-point tensor for symmetric integer
specs; this summary leaves those bytes out, because the zero point of a symmetric spec is a
constant that a format need not store.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import torch

from quantplan.plan.model import Entry, PlanOp, ResolvedSpec, SharedGroup, Summary
from quantplan.quantization.dtypes import ELEMENT_TYPES

__all__ = ["quantized_bytes", "summarize", "tensor_label"]

_SCALE_BYTES = {"float32": 4, "float8_e8m0fnu": 1}
_ZERO_POINT_BYTES = 1


def tensor_label(entry: Entry) -> str:
    """Return the summary key of a candidate weight: `dtype/granularity` or `float`."""
    if entry.spec is None:
        return "float"
    return f"{entry.spec.dtype}/{entry.spec.granularity.type}"


def _float_bytes(entry: Entry) -> int:
    return math.prod(entry.shape) * getattr(torch, entry.dtype).itemsize


def quantized_bytes(shape: tuple[int, ...], spec: ResolvedSpec) -> int:
    """Return the stored bytes of a weight of `shape` under `spec` (see the module docstring)."""
    bits = ELEMENT_TYPES[spec.dtype].bits
    rows = math.prod(shape[:-1]) if shape else 1
    row_length = shape[-1] if shape else 1
    data = rows * math.ceil(row_length * bits / 8)
    scales = math.prod(spec.scale_shape)
    scale_size = _SCALE_BYTES[spec.scale_dtype]
    offsets = 0
    if spec.qformulation == "minval":
        offsets = scales * scale_size
    elif spec.qscheme == "asymmetric":
        offsets = scales * _ZERO_POINT_BYTES
    return data + scales * scale_size + offsets


def _unique_weights(ops: Iterable[PlanOp], shared: Iterable[SharedGroup]) -> list[Entry]:
    group_of = {param: index for index, group in enumerate(shared) for param in group.params}
    seen: set = set()
    weights = []
    for op in ops:
        for entry in op.state.values():
            key = (
                ("group", group_of[entry.param])
                if entry.param in group_of
                else ("param", entry.param)
            )
            if entry.param is not None and key in seen:
                continue
            seen.add(key)
            weights.append(entry)
    return weights


def _bits(total_bytes: int, elements: int) -> float | None:
    return round(total_bytes * 8 / elements, 2) if elements else None


def summarize(ops: Iterable[PlanOp], shared: Iterable[SharedGroup] = ()) -> Summary:
    """Compute the summary over the candidate weights of `ops`."""
    weights = _unique_weights(list(ops), list(shared))
    before = after = quantized_elements = quantized_after = 0
    for entry in weights:
        before += _float_bytes(entry)
        if entry.spec is None:
            after += _float_bytes(entry)
            continue
        stored = quantized_bytes(entry.shape, entry.spec)
        after += stored
        quantized_after += stored
        quantized_elements += math.prod(entry.shape)
    elements = sum(math.prod(entry.shape) for entry in weights)
    return Summary(
        tensors=Counter(tensor_label(entry) for entry in weights),
        weight_bytes_before=before,
        weight_bytes_after=after,
        bits_per_weight_candidates=_bits(after, elements),
        bits_per_weight_quantized=_bits(quantized_after, quantized_elements),
    )
