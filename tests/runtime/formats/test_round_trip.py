"""dequantize(pack(w)) equals the fake-quantized weight bit for bit, for every format."""

from __future__ import annotations

import pytest
import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.formats import dequantize, pack, unpack_codes
from quantplan.runtime.numerics import compute_qparams, fake_quantize, resolve_block_shape

PER_CHANNEL = {"type": "per_channel", "axis": 0}
PER_BLOCK = {"type": "per_block", "axis": 1, "block_size": 16}

CASES = [
    ("int8", "symmetric", PER_CHANNEL),
    ("int8", "symmetric", PER_BLOCK),
    ("int8", "asymmetric", PER_CHANNEL),
    ("int8", "asymmetric", PER_BLOCK),
    ("int8", "symmetric_with_clipping", PER_CHANNEL),
    ("uint8", "symmetric", PER_CHANNEL),
    ("uint8", "asymmetric", PER_BLOCK),
    ("int4", "symmetric", PER_BLOCK),
    ("int4", "asymmetric", PER_BLOCK),
    ("int4", "symmetric", PER_CHANNEL),
    ("uint4", "asymmetric", PER_BLOCK),
    ("uint4", "symmetric", PER_CHANNEL),
    ("int2", "asymmetric", PER_BLOCK),
    ("float8_e4m3fn", "symmetric", PER_CHANNEL),
    ("float8_e5m2", "symmetric", PER_BLOCK),
    ("float4_e2m1fn_x2", "symmetric", {"type": "per_block", "axis": 1, "block_size": 32}),
]


def _weight(shape=(24, 64), seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=generator) * 0.05
    weight[0] = 0.0
    weight[1] *= 1e-6
    return weight


def _assert_round_trip(weight: torch.Tensor, spec: QuantizationSpec) -> None:
    block = resolve_block_shape(weight.shape, spec, "weight")
    qparams = compute_qparams(weight, spec, role="weight", block_shape=block)
    expected = fake_quantize(weight, spec, role="weight", block_shape=block).output
    packed = pack(weight, qparams, spec, block)
    restored = dequantize(packed, spec, weight.dtype)
    assert restored.dtype == expected.dtype
    assert torch.equal(
        restored.view(torch.int32 if restored.dtype == torch.float32 else torch.int16),
        expected.view(torch.int32 if expected.dtype == torch.float32 else torch.int16),
    )


@pytest.mark.parametrize(("dtype", "qscheme", "granularity"), CASES)
def test_dequantize_of_pack_matches_fake_quant(dtype, qscheme, granularity):
    spec = QuantizationSpec(dtype=dtype, qscheme=qscheme, granularity=granularity)
    _assert_round_trip(_weight(), spec)


@pytest.mark.parametrize("dtype", ["int8", "int4", "uint4"])
def test_minval_formulation_round_trip(dtype):
    spec = QuantizationSpec(
        dtype=dtype, qscheme="asymmetric", qformulation="minval", granularity=PER_BLOCK
    )
    _assert_round_trip(_weight(), spec)


def test_int8_e8m0_scales_round_trip():
    spec = QuantizationSpec(dtype="int8", granularity=PER_BLOCK, scale_dtype="float8_e8m0fnu")
    _assert_round_trip(_weight(), spec)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_weight_round_trip(dtype):
    spec = QuantizationSpec(dtype="int4", qscheme="asymmetric", granularity=PER_BLOCK)
    _assert_round_trip(_weight().to(dtype), spec)


def test_fp8_storage_uses_torch_float8_dtype():
    spec = QuantizationSpec(dtype="float8_e4m3fn", granularity=PER_CHANNEL)
    weight = _weight()
    block = resolve_block_shape(weight.shape, spec, "weight")
    packed = pack(
        weight, compute_qparams(weight, spec, role="weight", block_shape=block), spec, block
    )
    assert packed.data.dtype == torch.float8_e4m3fn
    assert packed.zero_point is None


def test_mxfp4_stores_e2m1_pairs_and_e8m0_bytes():
    spec = QuantizationSpec(
        dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "axis": 1, "block_size": 32}
    )
    weight = _weight()
    block = resolve_block_shape(weight.shape, spec, "weight")
    packed = pack(
        weight, compute_qparams(weight, spec, role="weight", block_shape=block), spec, block
    )
    assert packed.data.dtype == torch.uint8
    assert tuple(packed.data.shape) == (24, 32)
    assert packed.scale.dtype == torch.uint8
    assert tuple(packed.scale.shape) == (24, 2)
    assert packed.scale_encoding == "e8m0"


def test_int4_unpack_returns_signed_codes():
    spec = QuantizationSpec(dtype="int4", granularity=PER_BLOCK)
    weight = _weight()
    block = resolve_block_shape(weight.shape, spec, "weight")
    packed = pack(
        weight, compute_qparams(weight, spec, role="weight", block_shape=block), spec, block
    )
    codes = unpack_codes(packed)
    assert int(codes.min()) >= -8
    assert int(codes.max()) <= 7
    assert int(codes.min()) < 0
