"""The mse range calculator: never worse than minmax, better on heavy-tailed data."""

from __future__ import annotations

import pytest
import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime import fake_quantize, make_observer
from quantplan.runtime.numerics.mse import CLIPPING_RATIOS

SPEC_FIELDS = {
    "int4-block": dict(
        dtype="int4", granularity={"type": "per_block", "axis": 1, "block_size": 32}
    ),
    "int8-channel": dict(dtype="int8", granularity={"type": "per_channel", "axis": 0}),
    "uint8-asym-channel": dict(
        dtype="uint8", qscheme="asymmetric", granularity={"type": "per_channel", "axis": 0}
    ),
    "e4m3-channel": dict(dtype="float8_e4m3fn", granularity={"type": "per_channel", "axis": 0}),
    "mxfp4": dict(
        dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "axis": 1, "block_size": 32}
    ),
}


def heavy_tailed(rows: int = 64, columns: int = 128) -> torch.Tensor:
    generator = torch.Generator().manual_seed(5)
    return _student_t(rows, columns, generator)


def _student_t(rows: int, columns: int, generator: torch.Generator) -> torch.Tensor:
    # Student's t with 2 degrees of freedom: normal / sqrt(chi-square(2) / 2).
    normal = torch.randn(rows, columns, generator=generator)
    chi_square = -2.0 * torch.log(torch.rand(rows, columns, generator=generator))
    return normal / torch.sqrt(chi_square / 2.0)


def block_errors(x: torch.Tensor, fields: dict, calculator: str) -> torch.Tensor:
    spec = QuantizationSpec(range_calculator_cls=calculator, **fields)
    result = fake_quantize(x, spec, role="weight")
    block = tuple(size // count for size, count in zip(x.shape, result.scale.shape, strict=True))
    squared = (result.output - x).square()
    return squared.reshape(x.shape[0] // block[0], block[0], x.shape[1] // block[1], block[1]).sum(
        dim=(1, 3)
    )


def test_clipping_grid():
    assert len(CLIPPING_RATIOS) == 81
    assert CLIPPING_RATIOS[0] == 1.0
    assert CLIPPING_RATIOS[-1] == pytest.approx(0.2)


@pytest.mark.parametrize("name", SPEC_FIELDS)
def test_mse_never_worse_than_minmax(name):
    x = heavy_tailed()
    mse = block_errors(x, SPEC_FIELDS[name], "mse")
    minmax = block_errors(x, SPEC_FIELDS[name], "minmax")
    assert bool((mse <= minmax).all())


def test_mse_lowers_error_on_heavy_tails():
    x = heavy_tailed()
    mse = block_errors(x, SPEC_FIELDS["int4-block"], "mse").sum()
    minmax = block_errors(x, SPEC_FIELDS["int4-block"], "minmax").sum()
    assert mse < 0.9 * minmax


def test_mse_clips_most_heavy_tailed_blocks():
    x = heavy_tailed()
    minmax = fake_quantize(x, QuantizationSpec(**SPEC_FIELDS["int4-block"]), role="weight")
    mse = fake_quantize(
        x, QuantizationSpec(range_calculator_cls="mse", **SPEC_FIELDS["int4-block"]), role="weight"
    )
    assert bool((mse.scale <= minmax.scale).all())
    assert (mse.scale < minmax.scale).float().mean().item() > 0.5


def test_mse_keeps_dtype_and_shape_bf16():
    x = heavy_tailed().to(torch.bfloat16)
    spec = QuantizationSpec(range_calculator_cls="mse", **SPEC_FIELDS["int4-block"])
    result = fake_quantize(x, spec, role="weight")
    assert result.output.dtype == torch.bfloat16
    assert tuple(result.scale.shape) == (64, 4)


def test_mse_observer_activation():
    spec = QuantizationSpec(range_calculator_cls="mse", qparam_calculator_cls="global_minmax")
    observer = make_observer(spec, role="activation", name="x")
    observer.observe(heavy_tailed())
    scale, _ = observer.qparams()
    amax = heavy_tailed().abs().max()
    assert scale.item() < (amax / 127.5).item()
