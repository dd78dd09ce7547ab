"""Observer calculators: default resolution, running ranges and per-batch qparams."""

from __future__ import annotations

import torch

from quantplan.quantization.spec import QuantizationSpec
from quantplan.runtime import fake_quantize, make_observer


def batches() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    return [torch.randn(4, 8, generator=generator) * (index + 1) for index in range(3)]


def test_default_resolves_by_role():
    spec = QuantizationSpec()
    assert make_observer(spec, role="weight").calculator == "static"
    assert make_observer(spec, role="activation").calculator == "moving_average"


def test_moving_average_float32_arithmetic():
    observer = make_observer(
        QuantizationSpec(qparam_calculator_cls="moving_average"), role="activation"
    )
    first, second, _ = batches()
    observer.observe(first)
    observer.observe(second)
    constant, complement = torch.tensor(0.01), torch.tensor(0.99)
    expected_min = constant * second.min().clamp(max=0) + complement * first.min().clamp(max=0)
    expected_max = constant * second.max().clamp(min=0) + complement * first.max().clamp(min=0)
    assert observer.running_min.item() == expected_min.item()
    assert observer.running_max.item() == expected_max.item()


def test_global_minmax_keeps_extremes():
    observer = make_observer(
        QuantizationSpec(qparam_calculator_cls="global_minmax"), role="activation"
    )
    data = batches()
    for batch in data:
        observer.observe(batch)
    stacked = torch.stack(data)
    assert observer.running_min.item() == stacked.min().item()
    assert observer.running_max.item() == stacked.max().item()
    assert observer.batch_count == 3


def test_static_weight_observer_matches_fake_quantize():
    spec = QuantizationSpec(
        dtype="int4", granularity={"type": "per_block", "axis": 1, "block_size": 4}
    )
    weight = batches()[0].to(torch.bfloat16)
    observer = make_observer(spec, role="weight", name="fc1.weight")
    observer.observe(weight)
    observed = observer.qparams()
    direct = fake_quantize(weight, spec, role="weight")
    assert torch.equal(observed.scale, direct.scale)
    assert torch.equal(observed.zero_point, direct.zero_point)
    assert torch.equal(observed.minval, direct.minval)
    assert observer.block_shape == (1, 4)


def test_dynamic_observer_uses_latest_batch():
    observer = make_observer(QuantizationSpec(qparam_calculator_cls="dynamic"), role="activation")
    first, second, third = batches()
    for batch in (first, second, third):
        observer.observe(batch)
    assert observer.running_max.item() == third.max().clamp(min=0).item()


def test_float_range_overrides_running_range():
    spec = QuantizationSpec(dtype="uint8", qscheme="asymmetric", float_range=[None, 6.0])
    observer = make_observer(spec, role="activation")
    observer.observe(torch.tensor([[-1.0, 20.0]]))
    scale, zero_point = observer.qparams()
    assert scale.item() == (torch.tensor(7.0) / 255).item()
    assert zero_point.item() == 36
