"""E2M1 codes, E8M0 scale bytes and fp8 NaN checks."""

from __future__ import annotations

import pytest
import torch

from quantplan.errors import PlanError
from quantplan.runtime.formats.floats import (
    E2M1_VALUES,
    check_finite_fp8,
    decode_e2m1,
    decode_e8m0,
    encode_e2m1,
    encode_e8m0,
)


def test_e2m1_round_trip_keeps_signed_zero():
    codes = encode_e2m1(E2M1_VALUES)
    assert codes.tolist() == list(range(16))
    decoded = decode_e2m1(codes)
    assert torch.equal(decoded, E2M1_VALUES)
    assert torch.equal(torch.signbit(decoded), torch.signbit(E2M1_VALUES))


def test_e2m1_rejects_value_off_grid():
    with pytest.raises(PlanError) as caught:
        encode_e2m1(torch.tensor([2.5]), name="fc.weight")
    assert "fc.weight: value 2.5 is not on the E2M1 grid" in str(caught.value)


def test_e8m0_byte_zero_decodes_to_two_to_minus_127():
    assert decode_e8m0(torch.tensor([0], dtype=torch.uint8)).item() == 2.0**-127


def test_e8m0_round_trip_over_all_finite_bytes():
    data = torch.arange(0, 255, dtype=torch.uint8)
    assert torch.equal(encode_e8m0(decode_e8m0(data)), data)


def test_e8m0_nan_byte_rejected_on_decode():
    with pytest.raises(PlanError) as caught:
        decode_e8m0(torch.tensor([127, 255], dtype=torch.uint8), name="fc.weight_scale")
    assert "fc.weight_scale: E8M0 scale byte 0xFF (NaN) found" in str(caught.value)


@pytest.mark.parametrize("scale", [float("nan"), 0.75, 0.0, float("inf")])
def test_e8m0_refuses_to_encode_non_power_of_two(scale):
    with pytest.raises(PlanError):
        encode_e8m0(torch.tensor([scale]))


def test_fp8_nan_bytes_refused():
    data = torch.tensor([0x7F, 0x01], dtype=torch.uint8).view(torch.float8_e4m3fn)
    with pytest.raises(PlanError) as caught:
        check_finite_fp8(data, name="fc.weight")
    assert "fc.weight: torch.float8_e4m3fn data contains NaN or inf bytes" in str(caught.value)


def test_fp8_saturated_data_accepted():
    check_finite_fp8(torch.tensor([448.0, -448.0]).to(torch.float8_e4m3fn))
