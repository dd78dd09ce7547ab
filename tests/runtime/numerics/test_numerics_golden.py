"""Every golden fake-quantization vector, reproduced bit for bit."""

from __future__ import annotations

import pytest
import torch

from quantplan.runtime import fake_quantize, make_observer
from quantplan.runtime.numerics import fake_quantize_with_qparams

from .numerics_golden import bits, expected_float, golden_cases, spec_of, tensor_of

SINGLE = [case for case in golden_cases() if case["kind"] == "single"]
SEQUENCE = [case for case in golden_cases() if case["kind"] == "sequence"]


def assert_same_bits(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    mismatch = bits(actual) != bits(expected)
    if mismatch.any():
        index = int(mismatch.flatten().nonzero()[0])
        got, want = actual.flatten()[index].item(), expected.flatten()[index].item()
        raise AssertionError(
            f"{what}: {int(mismatch.sum())} elements differ; "
            f"first at flat index {index}: {got!r} != {want!r}"
        )


def assert_qparams(qparams, expected: dict, scale_shape: tuple[int, ...], what: str) -> None:
    scale, zero_point = qparams
    assert_same_bits(
        scale, expected_float(expected["scale"]["values"], scale_shape), f"{what} scale"
    )
    if expected["zero_point"] is None:
        assert zero_point is None, f"{what}: zero point should be None"
    else:
        want = torch.tensor(expected["zero_point"]["values"], dtype=torch.int32).reshape(
            scale_shape
        )
        assert zero_point.dtype == torch.int32
        assert torch.equal(zero_point, want), (
            f"{what} zero point: {zero_point.flatten().tolist()} != {want.flatten().tolist()}"
        )
    if expected["minval"] is None:
        assert qparams.minval is None, f"{what}: minval should be None"
    else:
        assert_same_bits(
            qparams.minval,
            expected_float(expected["minval"]["values"], scale_shape),
            f"{what} minval",
        )


def scale_shape_of(case: dict, shape: list[int]) -> tuple[int, ...]:
    return tuple(
        size // extent for size, extent in zip(shape, case["derived"]["block_shape"], strict=True)
    )


@pytest.mark.parametrize("case", SINGLE, ids=[case["id"] for case in SINGLE])
def test_single_case(case):
    x = tensor_of(case["input"])
    result = fake_quantize(x, spec_of(case), role=case["role"])

    scale_shape = scale_shape_of(case, case["input"]["shape"])
    assert_qparams(result.qparams, case["expected"], scale_shape, "qparams")
    assert result.minval is result.qparams.minval
    expected_output = expected_float(case["expected"]["output"]["values"], x.shape).to(x.dtype)
    assert_same_bits(result.output, expected_output, "output")


@pytest.mark.parametrize("case", SEQUENCE, ids=[case["id"] for case in SEQUENCE])
def test_sequence_case(case):
    spec = spec_of(case)
    observer = make_observer(spec, role=case["role"], name=case["id"])
    shape = case["inputs"][0]["shape"]
    scale_shape = scale_shape_of(case, shape)

    for index, (record, expected) in enumerate(
        zip(case["inputs"], case["expected"]["per_batch"], strict=True)
    ):
        observer.observe(tensor_of(record))
        what = f"batch {index}"
        assert_same_bits(
            observer.running_min,
            expected_float(expected["running_min"]["values"], scale_shape),
            f"{what} running_min",
        )
        assert_same_bits(
            observer.running_max,
            expected_float(expected["running_max"]["values"], scale_shape),
            f"{what} running_max",
        )
        assert_qparams(observer.qparams(), expected, scale_shape, what)

    last = tensor_of(case["inputs"][-1])
    output = fake_quantize_with_qparams(last, observer.qparams(), spec, observer.block_shape)
    assert_same_bits(
        output,
        expected_float(case["expected"]["output_last"]["values"], last.shape).to(last.dtype),
        "output_last",
    )
