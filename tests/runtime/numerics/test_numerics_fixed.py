"""The fixed-qparams evaluation kernel gives the golden bits wherever it applies."""

from __future__ import annotations

import pytest
import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime import fake_quantize
from quantplan.runtime.numerics import build_fixed_fake_quant, resolve_block_shape

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
