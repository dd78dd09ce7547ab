"""Loading of the golden fake-quantization vectors kept beside these tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import torch

from quantplan.quantization.spec import QuantizationSpec

VECTORS = Path(__file__).parent / "data" / "fake_quant_vectors.json"


@cache
def golden_cases() -> tuple[dict, ...]:
    """Return every case of the vectors file, in file order."""
    return tuple(json.loads(VECTORS.read_text())["cases"])


def spec_of(case: dict) -> QuantizationSpec:
    """Build the QuantizationSpec of a case."""
    return QuantizationSpec(**case["spec"])


def tensor_of(record: dict) -> torch.Tensor:
    """Build the input tensor of a `{dtype, shape, values}` record (values are exact float32)."""
    values = torch.from_numpy(np.asarray(record["values"], dtype=np.float64).astype(np.float32))
    return values.reshape(record["shape"]).to(getattr(torch, record["dtype"]))


def expected_float(values: list, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Build a float32 tensor of `shape` from exact float32 values."""
    array = np.asarray(values, dtype=np.float64).astype(np.float32)
    return torch.from_numpy(array).reshape(tuple(shape))


def bits(tensor: torch.Tensor) -> torch.Tensor:
    """Return the raw bit pattern, so that -0.0 differs from 0.0 and NaN equals NaN."""
    tensor = tensor.contiguous()
    if tensor.dtype == torch.float32:
        return tensor.view(torch.int32)
    return tensor.view(torch.int16)
