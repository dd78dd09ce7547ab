"""The fixed-qparams evaluation kernel gives the golden bits wherever it applies."""

from __future__ import annotations

import pytest
import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime import fake_quantize
from quantplan.runtime.numerics import (
    build_fixed_fake_quant,
    fake_quantize_with_qparams,
    resolve_block_shape,
)

from .numerics_golden import expected_float, golden_cases, spec_of, tensor_of
from .test_numerics_golden import assert_same_bits

SINGLE = [case for case in golden_cases() if case["kind"] == "single"]


@pytest.mark.parametrize("case", SINGLE, ids=[case["id"] for case in SINGLE])
def test_fixed_kernel_golden(case):
    x = tensor_of(case["input"])
    spec = spec_of(case)
    block = resolve_block_shape(x.shape, spec, case["role"])
    qparams = fake_quantize(x, spec, role=case["role"]).qparams
    fixed = build_fixed_fake_quant(qparams, spec, x.shape, block, x.device)
    if fixed is None:
        assert spec.is_float or spec.qformulation.value == "minval"
        return
    expected = expected_float(case["expected"]["output"]["values"], x.shape).to(x.dtype)
    assert_same_bits(fixed(x), expected, "output")


def test_fixed_kernel_negative_zero():
    spec = QuantizationSpec(dtype="int8", qscheme="symmetric", granularity={"type": "per_tensor"})
    x = torch.tensor([-0.001, -0.0, 0.2, float("inf"), float("-inf")])
    qparams = fake_quantize(torch.tensor([1.0]), spec, role="activation").qparams
    fixed = build_fixed_fake_quant(qparams, spec, x.shape, tuple(x.shape), x.device)
    output = fixed(x)
    assert torch.equal(output.view(torch.int32)[:2], torch.zeros(2, dtype=torch.int32))
    assert output[3] == 127 * qparams.scale[0]
    assert output[4] == -128 * qparams.scale[0]


SPECS = {
    "int8 symmetric per tensor": dict(dtype="int8", qscheme="symmetric"),
    "uint8 asymmetric per tensor": dict(dtype="uint8", qscheme="asymmetric"),
    "int4 asymmetric per tensor": dict(dtype="int4", qscheme="asymmetric"),
    "int8 symmetric per channel": dict(
        dtype="int8", qscheme="symmetric", granularity={"type": "per_channel", "axis": 1}
    ),
    "uint4 asymmetric per block": dict(
        dtype="uint4",
        qscheme="asymmetric",
        granularity={"type": "per_block", "axis": 1, "block_size": 8},
    ),
}


def per_element(qparam: torch.Tensor, shape: tuple[int, ...], block: tuple[int, ...]):
    """Expand per-block qparams to one value per element of a tensor of `shape`."""
    grid = tuple(size // extent for size, extent in zip(shape, block, strict=True))
    expanded = qparam.reshape(grid)
    for dim, extent in enumerate(block):
        expanded = expanded.repeat_interleave(extent, dim=dim)
    return expanded


def hard_values(qparams, shape, block, generator) -> torch.Tensor:
    """Values that stress the kernel: exact ties k + 0.5, their neighbors, +-0, inf and NaN."""
    scale = per_element(qparams.scale.to(torch.float32), shape, block)
    zero_point = per_element(qparams.zero_point.to(torch.float32), shape, block)
    codes = torch.randint(-300, 300, shape, generator=generator).to(torch.float32)
    ties = (codes + 0.5 - zero_point) * scale
    kinds = [
        ties,
        torch.nextafter(ties, torch.tensor(float("inf"))),
        torch.nextafter(ties, torch.tensor(float("-inf"))),
        torch.randn(shape, generator=generator) * scale * 0.4,
        torch.randn(shape, generator=generator) * scale * 200,
    ]
    specials = kinds[3].clone()
    specials.view(-1)[:5] = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan")])
    return torch.stack([*kinds, specials])


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_fixed_kernel_matches_general_path(name, dtype):
    spec = QuantizationSpec(**SPECS[name])
    generator = torch.Generator().manual_seed(7)
    calibration = torch.randn(4, 32, generator=generator) * 3 + 0.5
    block = resolve_block_shape(calibration.shape, spec, "activation")
    qparams = fake_quantize(calibration, spec, role="activation", block_shape=block).qparams
    fixed = build_fixed_fake_quant(qparams, spec, calibration.shape, block, calibration.device)
    for x in hard_values(qparams, tuple(calibration.shape), block, generator):
        x = x.to(dtype)
        expected = fake_quantize_with_qparams(x, qparams, spec, block)
        actual = fixed(x)
        # A NaN stays NaN, but x86 may flip its sign bit, so NaN positions are compared apart.
        assert torch.equal(actual.isnan(), expected.isnan()), f"{name}, {dtype}: NaN positions"
        finite = ~expected.isnan()
        assert_same_bits(actual[finite], expected[finite], f"{name}, {dtype}")


def test_fixed_kernel_keeps_input_unchanged():
    spec = QuantizationSpec(**SPECS["uint8 asymmetric per tensor"])
    x = torch.randn(16, 16)
    before = x.clone()
    qparams = fake_quantize(x, spec, role="activation").qparams
    fixed = build_fixed_fake_quant(qparams, spec, x.shape, tuple(x.shape), x.device)
    fixed(x)
    assert torch.equal(x, before)
