"""Block shapes resolved from granularity and role, and the scale shapes they give."""

from __future__ import annotations

import pytest
import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime import fake_quantize
from quantplan.runtime.numerics import resolve_block_shape


def spec_with(granularity: dict, **fields) -> QuantizationSpec:
    return QuantizationSpec(granularity=granularity, **fields)


@pytest.mark.parametrize(
    ("shape", "granularity", "role", "expected"),
    [
        ((8, 16), {"type": "per_tensor"}, "weight", (8, 16)),
        ((8, 16), {"type": "per_channel", "axis": 0}, "weight", (1, 16)),
        ((8, 16), {"type": "per_channel", "axis": -1}, "weight", (8, 1)),
        ((2, 4, 8), {"type": "per_channel", "axis": 1}, "activation", (2, 1, 8)),
        ((64, 128), {"type": "per_block", "axis": 1, "block_size": 32}, "weight", (1, 32)),
        (
            (64, 128, 3, 3),
            {"type": "per_block", "axis": 1, "block_size": 32},
            "weight",
            (1, 32, 3, 3),
        ),
        ((4, 4, 3, 3), {"type": "per_block", "axis": 0, "block_size": 2}, "weight", (2, 1, 3, 3)),
        ((2, 4, 32), {"type": "per_block", "axis": -1, "block_size": 16}, "activation", (1, 1, 16)),
        ((4, 8, 16), {"type": "per_block", "block_size": (1, 1, -1)}, "weight", (1, 1, 16)),
        ((4, 8, 16), {"type": "per_block", "block_size": (2, -1, 4)}, "activation", (2, 8, 4)),
    ],
)
def test_resolve_block_shape(shape, granularity, role, expected):
    assert resolve_block_shape(shape, spec_with(granularity), role) == expected


def test_per_channel_axis1_linear_scale_shape():
    weight = torch.nn.Linear(100, 110).weight.detach()
    result = fake_quantize(weight, spec_with({"type": "per_channel", "axis": 1}), role="weight")
    assert tuple(result.scale.shape) == (1, 100)
    assert tuple(result.zero_point.shape) == (1, 100)


def test_negative_axis_normalized():
    x = torch.randn(6, 10, generator=torch.Generator().manual_seed(1))
    negative = fake_quantize(x, spec_with({"type": "per_channel", "axis": -2}), role="weight")
    positive = fake_quantize(x, spec_with({"type": "per_channel", "axis": 0}), role="weight")
    assert tuple(negative.scale.shape) == (6, 1)
    assert torch.equal(negative.scale, positive.scale)
    assert torch.equal(negative.output, positive.output)


def test_block_size_one_is_elementwise():
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    result = fake_quantize(
        x, spec_with({"type": "per_block", "axis": 1, "block_size": 1}), role="weight"
    )
    assert tuple(result.scale.shape) == (4, 8)
    assert torch.equal(result.scale, x.abs() / 127.5)
    # Each element is its own amax, so x / s is about +/-127.5 and lands within one step.
    assert bool(((result.output - x).abs() <= result.scale).all())


def test_block_equal_to_dim_is_per_channel():
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    blocked = fake_quantize(
        x, spec_with({"type": "per_block", "axis": 1, "block_size": 8}), role="weight"
    )
    channel = fake_quantize(x, spec_with({"type": "per_channel", "axis": 0}), role="weight")
    assert tuple(blocked.scale.shape) == (4, 1)
    assert torch.equal(blocked.scale, channel.scale)
    assert torch.equal(blocked.output, channel.output)


def test_explicit_block_shape_overrides_spec():
    x = torch.randn(6, 4, 3)
    result = fake_quantize(
        x, spec_with({"type": "per_tensor"}), role="weight", block_shape=(3, 1, 3)
    )
    assert tuple(result.scale.shape) == (2, 4, 1)
