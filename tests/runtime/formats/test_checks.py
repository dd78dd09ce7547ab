"""check_model_tensors: the value and dtype rules shared by save and load."""

from __future__ import annotations

import pytest
import torch

from quantplan.errors import PlanError
from quantplan.runtime.formats.checks import check_model_tensors

_MX_LAYOUT = {
    "dtype": "float4_e2m1fn_x2",
    "shape": [4, 64],
    "block_shape": [1, 32],
    "scale_encoding": "e8m0",
    "storage": "uint8",
}


def _mx_tensors(scale_byte: int = 127) -> dict[str, torch.Tensor]:
    return {
        "fc.weight": torch.zeros(4, 32, dtype=torch.uint8),
        "fc.weight_scale": torch.full((4, 2), scale_byte, dtype=torch.uint8),
    }


def _check(tensors, layouts=None):
    check_model_tensors(
        tensors, layouts or {"fc.weight": _MX_LAYOUT}, parameter_names=(), source="test"
    )


def test_e8m0_scale_nan_byte_rejected():
    with pytest.raises(PlanError) as caught:
        _check(_mx_tensors(0xFF))
    assert str(caught.value).startswith("fc.weight_scale: E8M0 scale byte 0xFF (NaN) found")


def test_e8m0_scale_valid_bytes_accepted():
    _check(_mx_tensors(0))


def test_e8m0_scale_stored_as_float_rejected():
    tensors = _mx_tensors()
    tensors["fc.weight_scale"] = tensors["fc.weight_scale"].float()
    with pytest.raises(PlanError) as caught:
        _check(tensors)
    assert "dtype torch.float32 does not match the weight layout" in str(caught.value)


def test_e5m2_inf_byte_rejected():
    data = torch.zeros(8, dtype=torch.uint8)
    data[2] = 0x7C  # +inf in float8_e5m2
    with pytest.raises(PlanError):
        _check({"x": data.view(torch.float8_e5m2)}, {})


def test_buffer_inf_accepted_parameter_inf_rejected():
    mask = torch.tensor([0.0, float("-inf")])
    check_model_tensors({"mask": mask}, {}, parameter_names=(), source="test")
    with pytest.raises(PlanError):
        check_model_tensors({"mask": mask}, {}, parameter_names=("mask",), source="test")


def test_scan_covers_every_chunk(monkeypatch):
    monkeypatch.setattr("quantplan.runtime.formats.checks._CHUNK", 3)
    values = torch.ones(10)
    values[9] = float("nan")
    with pytest.raises(PlanError):
        check_model_tensors({"bias": values}, {}, parameter_names=(), source="test")
