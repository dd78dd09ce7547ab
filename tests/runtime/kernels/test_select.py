"""Kernel choice per spec and shape, and each kernel's error against the fake-quant linear."""

from __future__ import annotations

import pytest
import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime.kernels import INT4_CROSSOVER_M, INT8_CROSSOVER_M, select_linear_kernel

from .helpers import packed_weight, reference_linear, relative_error

CPU = torch.device("cpu")
EMULATED = "dequantize+linear in the input dtype"
CHUNKED = "chunked dequantize+linear in the input dtype"
PER_CHANNEL = {"type": "per_channel", "axis": 0}


def _block(size):
    return {"type": "per_block", "axis": 1, "block_size": size}


def _setup(spec, shape=(64, 128), seed=0):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=generator) * 0.05
    bias = torch.randn(shape[0], generator=generator) * 0.1
    x = torch.randn(3, 5, shape[1], generator=generator)
    packed, fq_weight = packed_weight(weight, spec)
    return packed, fq_weight, bias, x


KERNEL_CASES = [
    # (dtype, qscheme, granularity, expected kernel name, native, max relative L2 error)
    ("int4", "symmetric", _block(32), "aten._weight_int4pack_mm_for_cpu", True, 0.01),
    ("uint4", "asymmetric", _block(64), "aten._weight_int4pack_mm_for_cpu", True, 0.01),
    ("int4", "asymmetric", _block(128), "aten._weight_int4pack_mm_for_cpu", True, 0.01),
    ("int8", "symmetric", PER_CHANNEL, "aten._weight_int8pack_mm", True, 0.01),
    ("uint8", "symmetric", PER_CHANNEL, "aten._weight_int8pack_mm", True, 0.01),
    ("int8", "asymmetric", PER_CHANNEL, EMULATED, False, 1e-6),
    ("int8", "symmetric", _block(32), EMULATED, False, 1e-6),
    ("int4", "symmetric", _block(16), EMULATED, False, 1e-6),
    ("float8_e4m3fn", "symmetric", PER_CHANNEL, CHUNKED, False, 1e-6),
    ("float8_e5m2", "symmetric", PER_CHANNEL, CHUNKED, False, 1e-6),
    ("float8_e4m3fn", "symmetric", {"type": "per_tensor"}, EMULATED, False, 1e-6),
    ("float4_e2m1fn_x2", "symmetric", _block(32), CHUNKED, False, 1e-6),
]


@pytest.mark.parametrize(
    ("dtype", "qscheme", "granularity", "name", "native", "tolerance"), KERNEL_CASES
)
def test_kernel_choice_and_error(dtype, qscheme, granularity, name, native, tolerance):
    spec = QuantizationSpec(dtype=dtype, qscheme=qscheme, granularity=granularity)
    packed, fq_weight, bias, x = _setup(spec)
    kernel = select_linear_kernel(packed, spec, None, None, CPU)
    assert kernel.choice.name == name
    assert kernel.choice.native is native
    out = kernel(x, bias)
    assert out.shape == (3, 5, 64)
    assert out.dtype == torch.float32
    assert relative_error(out, reference_linear(x, fq_weight, bias)) < tolerance


def test_int4_falls_back_when_rows_not_multiple_of_16():
    spec = QuantizationSpec(dtype="int4", granularity=_block(32))
    packed, fq_weight, bias, x = _setup(spec, shape=(40, 64))
    kernel = select_linear_kernel(packed, spec, None, None, CPU)
    assert kernel.choice.native is False
    assert (
        kernel.choice.reason
        == "out_features 40 is not a multiple of 16, which the int4 kernel needs"
    )
    assert relative_error(kernel(x, bias), reference_linear(x, fq_weight, bias)) < 1e-5


def test_int4_large_batch_uses_dequantized_path():
    from quantplan.runtime.kernels.weight_only import Int4Linear

    spec = QuantizationSpec(dtype="int4", granularity=_block(32))
    packed, fq_weight, bias, _ = _setup(spec)
    kernel = Int4Linear(packed, -8, -8, crossover_m=2)
    x = torch.randn(3, 128)
    assert relative_error(kernel(x, bias), reference_linear(x, fq_weight, bias)) < 0.01


@pytest.mark.parametrize("activation_dtype", ["int8", "uint8"])
@pytest.mark.parametrize("qscheme", ["symmetric", "asymmetric"])
def test_w8a8_dynamic_activation_exact_codes(activation_dtype, qscheme):
    spec = QuantizationSpec(dtype="int8", granularity=PER_CHANNEL)
    activation = QuantizationSpec(
        dtype=activation_dtype, qscheme=qscheme, qparam_calculator_cls="dynamic"
    )
    packed, fq_weight, bias, x = _setup(spec)
    kernel = select_linear_kernel(packed, spec, activation, None, CPU)
    assert kernel.choice.name == "onednn.qlinear_pointwise (dynamic activations)"
    expected = reference_linear(x, fq_weight, bias, activation)
    assert relative_error(kernel(x, bias), expected) < 1e-5


def test_w8a8_static_activation_uses_frozen_qparams():
    from quantplan.runtime.numerics import QParams

    spec = QuantizationSpec(dtype="int8", granularity=PER_CHANNEL)
    activation = QuantizationSpec(
        dtype="int8", qscheme="asymmetric", qparam_calculator_cls="static"
    )
    qparams = QParams(scale=torch.tensor([0.02]), zero_point=torch.tensor([3], dtype=torch.int32))
    packed, fq_weight, bias, x = _setup(spec)
    kernel = select_linear_kernel(packed, spec, activation, qparams, CPU)
    assert kernel.choice.name == "onednn.qlinear_pointwise (static activations)"
    block_qparams = QParams(
        scale=qparams.scale.reshape(1, 1), zero_point=qparams.zero_point.reshape(1, 1)
    )
    expected = reference_linear(x, fq_weight, bias, activation, block_qparams)
    assert relative_error(kernel(x, bias), expected) < 1e-5


def test_mxfp4_dequantized_weight_is_exact():
    spec = QuantizationSpec(dtype="float4_e2m1fn_x2", granularity=_block(32))
    packed, fq_weight, _, _ = _setup(spec)
    kernel = select_linear_kernel(packed, spec, None, None, CPU)
    assert torch.equal(kernel.weight(CPU), fq_weight)
    assert torch.equal(kernel.weight(CPU, torch.bfloat16), fq_weight.to(torch.bfloat16))


def test_fp8_dequantized_weight_is_exact_in_float32():
    spec = QuantizationSpec(dtype="float8_e4m3fn", granularity=PER_CHANNEL)
    packed, fq_weight, _, _ = _setup(spec)
    kernel = select_linear_kernel(packed, spec, None, None, CPU)
    assert torch.equal(kernel.weight(CPU), fq_weight)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp8_scaled_mm_on_cuda():
    spec = QuantizationSpec(dtype="float8_e4m3fn", granularity=PER_CHANNEL)
    activation = QuantizationSpec(dtype="float8_e4m3fn", qparam_calculator_cls="dynamic")
    packed, fq_weight, bias, x = _setup(spec)
    kernel = select_linear_kernel(packed, spec, activation, None, torch.device("cuda"))
    assert kernel.choice.name == "aten._scaled_mm"
    out = kernel(x.cuda(), bias.cuda()).cpu()
    assert relative_error(out, reference_linear(x, fq_weight, bias, activation)) < 0.02


@pytest.mark.parametrize("dtype", ["float4_e2m1fn_x2", "float8_e4m3fn", "float8_e5m2"])
def test_chunked_float_kernel_partial_chunk(dtype):
    granularity = _block(32) if dtype.startswith("float4") else PER_CHANNEL
    spec = QuantizationSpec(dtype=dtype, granularity=granularity)
    packed, fq_weight, bias, x = _setup(spec, shape=(200, 64))
    kernel = select_linear_kernel(packed, spec, None, None, CPU)
    assert type(kernel).__name__ == "ChunkedFloatLinear"
    assert relative_error(kernel(x, bias), reference_linear(x, fq_weight, bias)) < 1e-6


@pytest.mark.parametrize("dtype", ["float4_e2m1fn_x2", "float8_e4m3fn"])
def test_chunked_float_kernel_bf16_input(dtype):
    granularity = _block(32) if dtype.startswith("float4") else PER_CHANNEL
    spec = QuantizationSpec(dtype=dtype, granularity=granularity)
    packed, fq_weight, bias, x = _setup(spec, shape=(200, 64))
    out = select_linear_kernel(packed, spec, None, None, CPU)(x.to(torch.bfloat16), bias)
    assert out.dtype == torch.bfloat16
    assert relative_error(out, reference_linear(x, fq_weight, bias)) < 0.01


def test_fp8_chunk_decode_is_exact():
    spec = QuantizationSpec(dtype="float8_e4m3fn", granularity=PER_CHANNEL)
    packed, _, _, _ = _setup(spec, shape=(200, 64))
    kernel = select_linear_kernel(packed, spec, None, None, CPU)
    decoded = kernel.decode_rows(0, 200, torch.empty(200, 64, dtype=torch.bfloat16))
    assert torch.equal(decoded, packed.data.to(torch.bfloat16))
    decoded = kernel.decode_rows(0, 200, torch.empty(200, 64))
    assert torch.equal(decoded, packed.data.to(torch.float32))


def test_int8_weight_only_records_crossover():
    spec = QuantizationSpec(dtype="int8", granularity=PER_CHANNEL)
    packed, _, _, _ = _setup(spec)
    choice = select_linear_kernel(packed, spec, None, None, CPU).choice
    assert choice.crossover_m == INT8_CROSSOVER_M
    assert choice.above_crossover == CHUNKED
    assert choice.to_json()["above_crossover"] == CHUNKED


def test_int4_never_switches_when_crossover_is_none():
    spec = QuantizationSpec(dtype="int4", granularity=_block(32))
    packed, _, _, _ = _setup(spec)
    choice = select_linear_kernel(packed, spec, None, None, CPU).choice
    assert choice.crossover_m is INT4_CROSSOVER_M
    assert choice.above_crossover is None


@pytest.mark.parametrize(
    ("dtype", "qscheme", "granularity"),
    [
        ("int8", "symmetric", PER_CHANNEL),
        ("uint8", "symmetric", PER_CHANNEL),
        ("int4", "symmetric", _block(32)),
        ("uint4", "asymmetric", _block(32)),
    ],
)
def test_weight_only_above_crossover_matches_fake_quant(dtype, qscheme, granularity):
    from quantplan.runtime.kernels.weight_only import Int4Linear, Int8WeightOnlyLinear

    spec = QuantizationSpec(dtype=dtype, qscheme=qscheme, granularity=granularity)
    packed, fq_weight, bias, _ = _setup(spec, shape=(144, 128))
    qmin = int(spec.quant_min)
    if spec.element.bits == 8:
        kernel = Int8WeightOnlyLinear(packed, qmin, 128 if dtype == "uint8" else 0, crossover_m=2)
    else:
        kernel = Int4Linear(
            packed, qmin, spec.element.integer_range(clipped=False)[0], crossover_m=2
        )
    x = torch.randn(2, 3, 128)
    out = kernel(x, bias)
    assert out.shape == (2, 3, 144)
    assert relative_error(out, reference_linear(x, fq_weight, bias)) < 1e-6


def test_chunked_int_rows_are_exact_in_float32():
    from quantplan.runtime.kernels.chunked_int import packed_rows
    from quantplan.runtime.kernels.dequant import dequantize_into

    spec = QuantizationSpec(dtype="uint4", qscheme="asymmetric", granularity=_block(32))
    packed, fq_weight, _, _ = _setup(spec, shape=(200, 64))
    rows = dequantize_into(packed_rows(packed, 128, 200), 0, torch.empty(72, 64))
    assert torch.equal(rows, fq_weight[128:200])


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_chunked_int8_rows_decode_exactly(dtype):
    from quantplan.runtime.kernels.chunked_int import ChunkedIntLinear

    spec = QuantizationSpec(dtype=dtype, granularity=PER_CHANNEL)
    packed, fq_weight, _, _ = _setup(spec, shape=(200, 64))
    kernel = ChunkedIntLinear(packed, int(spec.quant_min))
    decoded = kernel.decode_rows(
        0, 200, torch.empty(200, 64), torch.empty(200, 64, dtype=torch.bfloat16)
    )
    assert torch.equal(decoded.float() * kernel.row_scale.reshape(-1, 1), fq_weight)


@pytest.mark.parametrize(
    ("dtype", "granularity"),
    [("int4", _block(32)), ("uint4", _block(64)), ("int8", PER_CHANNEL)],
)
def test_quantized_input_skips_bf16_weight_only_kernels(dtype, granularity):
    from quantplan.runtime.kernels.select import QUANTIZED_INPUT_REASON

    spec = QuantizationSpec(dtype=dtype, granularity=granularity)
    activation = QuantizationSpec(dtype="float8_e4m3fn", qparam_calculator_cls="dynamic")
    packed, fq_weight, bias, x = _setup(spec)
    kernel = select_linear_kernel(packed, spec, activation, None, CPU)
    assert kernel.choice.name == CHUNKED
    assert kernel.choice.native is False
    assert kernel.choice.reason == QUANTIZED_INPUT_REASON
    assert relative_error(kernel(x, bias), reference_linear(x, fq_weight, bias)) < 1e-6
