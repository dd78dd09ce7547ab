"""Codes, dequantization, fp8/fp4 rounding and the straight-through estimator."""

from __future__ import annotations

import pytest
import torch

from quantplan.quantization.dtypes import ELEMENT_TYPES
from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.numerics import (
    QParams,
    compute_qparams,
    dequantize_codes,
    fake_quantize_with_qparams,
    quantize_codes,
    resolve_block_shape,
)
from quantplan.runtime.numerics.grids import round_to_mantissa

SPECS = {
    "int8-sym-channel": dict(dtype="int8", granularity={"type": "per_channel", "axis": 0}),
    "uint8-asym-tensor": dict(dtype="uint8", qscheme="asymmetric"),
    "int4-asym-block": dict(
        dtype="int4",
        qscheme="asymmetric",
        granularity={"type": "per_block", "axis": 1, "block_size": 32},
    ),
    "int4-minval-block": dict(
        dtype="int4",
        qformulation="minval",
        granularity={"type": "per_block", "axis": 1, "block_size": 16},
    ),
    "int8-e8m0-block": dict(
        dtype="int8",
        scale_dtype="float8_e8m0fnu",
        granularity={"type": "per_block", "axis": 1, "block_size": 32},
    ),
    "e4m3-channel": dict(dtype="float8_e4m3fn", granularity={"type": "per_channel", "axis": 0}),
    "e5m2-tensor": dict(dtype="float8_e5m2"),
    "mxfp4": dict(
        dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "axis": 1, "block_size": 32}
    ),
}


def weight(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    return (torch.randn(16, 64, generator=generator) * 3).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("name", SPECS)
def test_dequantize_codes_matches_fake_quant(name, dtype):
    spec = QuantizationSpec(**SPECS[name])
    x = weight(dtype)
    block = resolve_block_shape(x.shape, spec, "weight")
    qparams = compute_qparams(x, spec, role="weight")

    codes = quantize_codes(x, qparams, spec, block)
    restored = dequantize_codes(codes, qparams, spec, block, dtype)
    expected = fake_quantize_with_qparams(x, qparams, spec, block)

    assert restored.dtype == dtype
    assert torch.equal(
        restored.view(torch.int16 if dtype != torch.float32 else torch.int32),
        expected.view(torch.int16 if dtype != torch.float32 else torch.int32),
    )


@pytest.mark.parametrize("name", ["int8-sym-channel", "uint8-asym-tensor", "int4-asym-block"])
def test_integer_codes_in_range(name):
    spec = QuantizationSpec(**SPECS[name])
    x = weight()
    qparams = compute_qparams(x, spec, role="weight")
    codes = quantize_codes(x, qparams, spec, resolve_block_shape(x.shape, spec, "weight"))
    assert codes.dtype == torch.int32
    assert int(codes.min()) >= spec.quant_min
    assert int(codes.max()) <= spec.quant_max


def test_fp8_saturation_policy():
    spec = QuantizationSpec(dtype="float8_e4m3fn")
    x = torch.tensor(
        [
            447.0,
            448.0,
            464.0,
            465.0,
            1000.0,
            3e10,
            float("inf"),
            float("-inf"),
            -1000.0,
            float("nan"),
        ]
    )
    qparams = QParams(torch.ones(1), None, None)
    output = fake_quantize_with_qparams(x, qparams, spec, (10,))
    expected = torch.tensor(
        [448.0, 448.0, 448.0, 448.0, 448.0, 448.0, 448.0, -448.0, -448.0, float("nan")]
    )
    assert torch.equal(output[:-1], expected[:-1])
    assert torch.isnan(output[-1])


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2"])
def test_fp8_cast_matches_mantissa_rounding(name):
    element = ELEMENT_TYPES[name]
    mantissa_bits, min_exponent = {"float8_e4m3fn": (3, -6), "float8_e5m2": (2, -14)}[name]
    generator = torch.Generator().manual_seed(3)
    magnitudes = torch.exp2(
        torch.rand(200_000, generator=generator) * (2 - 2 * min_exponent + 16)
        + 2 * min_exponent
        - 8
    )
    values = torch.where(torch.rand(200_000, generator=generator) < 0.5, -magnitudes, magnitudes)
    values = values.clamp(-element.fmax, element.fmax)
    cast = values.to(element.dtype).to(torch.float32)
    assert torch.equal(
        cast.view(torch.int32),
        round_to_mantissa(values, mantissa_bits, min_exponent).view(torch.int32),
    )


def test_fp4_grid_rounding():
    spec = QuantizationSpec(dtype="float4_e2m1fn_x2")
    x = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.5, -0.2, -5.0, 100.0])
    qparams = QParams(torch.ones(1), None, None)
    output = fake_quantize_with_qparams(x, qparams, spec, (11,))
    expected = torch.tensor([0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0, -0.0, -4.0, 6.0])
    assert torch.equal(output.view(torch.int32), expected.view(torch.int32))


def test_straight_through_gradient_int8():
    spec = QuantizationSpec(dtype="int8")
    qparams = QParams(torch.ones(1, 1), torch.zeros(1, 1, dtype=torch.int32), None)
    x = torch.tensor([[-200.0, -128.4, -3.2, 0.0, 50.7, 127.4, 127.6, 300.0]], requires_grad=True)
    output = fake_quantize_with_qparams(x, qparams, spec, (1, 8))
    output.backward(torch.arange(1.0, 9.0).reshape(1, 8))
    assert torch.equal(
        output.detach(), torch.tensor([[-128.0, -128.0, -3.0, 0.0, 51.0, 127.0, 127.0, 127.0]])
    )
    assert torch.equal(x.grad, torch.tensor([[0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]]))


def test_straight_through_gradient_fp8():
    spec = QuantizationSpec(dtype="float8_e4m3fn")
    qparams = QParams(torch.full((1,), 2.0), None, None)
    x = torch.tensor([-1000.0, -896.0, 3.0, 896.0, 897.0], requires_grad=True)
    fake_quantize_with_qparams(x, qparams, spec, (5,)).sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))


def test_straight_through_matches_forward_without_grad():
    spec = QuantizationSpec(**SPECS["int4-asym-block"])
    x = weight()
    qparams = compute_qparams(x, spec, role="weight")
    block = resolve_block_shape(x.shape, spec, "weight")
    plain = fake_quantize_with_qparams(x, qparams, spec, block)
    tracked = fake_quantize_with_qparams(x.clone().requires_grad_(), qparams, spec, block)
    assert tracked.requires_grad
    assert torch.equal(tracked.detach(), plain)
