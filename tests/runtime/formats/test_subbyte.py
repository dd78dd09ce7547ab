"""The portable int4/uint4/int2 layout: nibble order, sign handling, padding and range checks."""

from __future__ import annotations

import pytest
import torch

from quantplan.errors import PlanError
from quantplan.runtime.formats import pack_subbyte, unpack_subbyte
from quantplan.runtime.formats.subbyte import packed_shape


@pytest.mark.parametrize("shape", [(5, 7), (16, 33), (16, 16)])
def test_int4_all_values_in_both_nibbles(shape):
    rows, columns = shape
    values = torch.arange(-8, 8, dtype=torch.int32)
    codes = values.repeat(rows * columns // 16 + 2)[: rows * columns].reshape(shape)
    shifted = values.roll(1).repeat(rows * columns // 16 + 2)[: rows * columns].reshape(shape)
    for table in (codes, shifted):
        packed = pack_subbyte(table, 4, signed=True)
        assert tuple(packed.shape) == (rows, -(-columns // 2))
        assert torch.equal(unpack_subbyte(packed, shape, 4, signed=True), table)


def test_every_int4_pair_round_trips():
    low, high = torch.meshgrid(torch.arange(-8, 8), torch.arange(-8, 8), indexing="ij")
    codes = torch.stack([low.flatten(), high.flatten()], dim=-1).to(torch.int32)
    packed = pack_subbyte(codes, 4, signed=True)
    assert torch.equal(unpack_subbyte(packed, tuple(codes.shape), 4, signed=True), codes)
    assert packed.unique().numel() == 256


def test_first_element_goes_to_low_nibble():
    packed = pack_subbyte(torch.tensor([[-8, 7]], dtype=torch.int32), 4, signed=True)
    assert packed.tolist() == [[0x78]]


def test_negative_codes_stored_as_twos_complement():
    packed = pack_subbyte(torch.tensor([[-1, -2]], dtype=torch.int32), 4, signed=True)
    assert packed.tolist() == [[0xEF]]


def test_odd_row_padded_with_zero_nibble():
    packed = pack_subbyte(torch.tensor([[1, 2, 3]], dtype=torch.int32), 4, signed=False)
    assert packed.tolist() == [[0x21, 0x03]]


def test_uint4_full_range_round_trip():
    codes = torch.arange(16, dtype=torch.int32).reshape(2, 8)
    packed = pack_subbyte(codes, 4, signed=False)
    assert torch.equal(unpack_subbyte(packed, (2, 8), 4, signed=False), codes)


def test_int2_four_codes_per_byte():
    codes = torch.tensor([[-2, -1, 0, 1, 1]], dtype=torch.int32)
    packed = pack_subbyte(codes, 2, signed=True)
    assert tuple(packed.shape) == packed_shape((1, 5), 2) == (1, 2)
    assert torch.equal(unpack_subbyte(packed, (1, 5), 2, signed=True), codes)


def test_out_of_range_code_rejected_with_name():
    with pytest.raises(PlanError) as caught:
        pack_subbyte(torch.tensor([[8, 0]], dtype=torch.int32), 4, signed=True, name="fc1.weight")
    assert str(caught.value) == (
        "fc1.weight: codes span [0, 8], outside the signed 4-bit range [-8, 7]; "
        "quantize with the plan's spec before packing."
    )


def test_three_dimensional_tensor_packs_last_axis():
    codes = torch.randint(-8, 8, (4, 3, 9), dtype=torch.int32)
    packed = pack_subbyte(codes, 4, signed=True)
    assert tuple(packed.shape) == (4, 3, 5)
    assert torch.equal(unpack_subbyte(packed, (4, 3, 9), 4, signed=True), codes)
