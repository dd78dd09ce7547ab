"""Zero, tiny and constant channels in float32, float16 and bfloat16 inputs."""

from __future__ import annotations

import warnings

import pytest
import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime import fake_quantize, make_observer

SPECS = {
    "int8-per-channel": dict(dtype="int8", granularity={"type": "per_channel", "axis": 0}),
    "uint8-asymmetric": dict(
        dtype="uint8", qscheme="asymmetric", granularity={"type": "per_channel", "axis": 0}
    ),
    "int4-per-block-32": dict(
        dtype="int4", granularity={"type": "per_block", "axis": 1, "block_size": 32}
    ),
    "fp8-e4m3-per-row": dict(dtype="float8_e4m3fn", granularity={"type": "per_channel", "axis": 0}),
    "mxfp4": dict(
        dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "axis": 1, "block_size": 32}
    ),
}
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def degenerate_weight(dtype: torch.dtype) -> torch.Tensor:
    """Rows: zero, tiny (1e-30, flushed to 0 in fp16), float32 subnormal, constant, normal."""
    generator = torch.Generator().manual_seed(11)
    rows = torch.zeros(6, 64)
    rows[1] = 1e-30
    rows[2] = 1e-40
    rows[3] = -0.75
    rows[4] = torch.randn(64, generator=generator)
    rows[5, ::2] = 3e-8
    return rows.to(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", SPECS)
def test_degenerate_rows_stay_finite(name, dtype):
    x = degenerate_weight(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fake_quantize(x, QuantizationSpec(**SPECS[name]), role="weight")

    assert result.output.dtype == dtype
    assert torch.isfinite(result.output).all()
    assert torch.isfinite(result.scale).all()
    assert bool((result.scale > 0).all())
    assert torch.equal(result.output[0], torch.zeros(64, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_zero_row_scale_floor(dtype):
    x = degenerate_weight(dtype)
    result = fake_quantize(x, QuantizationSpec(**SPECS["int8-per-channel"]), role="weight")
    assert result.scale[0, 0].item() == 2.0**-23


def test_zero_block_e8m0_scale_floor():
    x = degenerate_weight(torch.float32)
    result = fake_quantize(x, QuantizationSpec(**SPECS["mxfp4"]), role="weight")
    assert result.scale[0, 0].item() == 2.0**-126


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_per_channel_keeps_dtype(dtype):
    x = torch.randn(8, 16).to(dtype)
    result = fake_quantize(x, QuantizationSpec(**SPECS["int8-per-channel"]), role="weight")
    assert result.output.dtype == dtype
    assert result.scale.dtype == torch.float32
    assert result.zero_point.dtype == torch.int32
    assert result.minval.dtype == torch.float32


def test_fp16_scale_rounded_in_fp16():
    x = torch.tensor([[0.3, -1.1, 0.7]], dtype=torch.float16)
    result = fake_quantize(x, QuantizationSpec(dtype="int8"), role="weight")
    amax = torch.tensor(1.1, dtype=torch.float16)
    assert result.scale.item() == (amax / 127.5).float().item()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_observer_zero_batches(dtype):
    observer = make_observer(
        QuantizationSpec(dtype="uint8", qscheme="asymmetric"), role="activation", name="x"
    )
    for _ in range(3):
        observer.observe(torch.zeros(4, 4, dtype=dtype))
    scale, zero_point = observer.qparams()
    assert scale.item() == 2.0**-23
    assert zero_point.item() == 0
