"""The plan summary: counts, bytes before and after, and effective bits per weight."""

from __future__ import annotations

import attrs

from quantplan.plan.model import Entry, PlanOp, ResolvedGranularity, SharedGroup
from quantplan.plan.summary import quantized_bytes, summarize

from .plan_builders import int4_block_spec, tinynet_ops


def weight_op(name: str, param: str, shape: tuple, spec, dtype: str = "float32") -> PlanOp:
    entry = Entry(shape=shape, dtype=dtype, spec=spec, rule="global_config", param=param)
    return PlanOp(name, "linear", "aten.linear.default", name, "M", state={"weight": entry})


def test_tinynet_with_fc2_in_float():
    summary = summarize(tinynet_ops(fc2_disabled=True))
    assert summary.tensors == {"float": 1, "int4/per_block": 2}
    assert (summary.weight_bytes_before, summary.weight_bytes_after) == (109_568, 60_320)
    assert (summary.bits_per_weight_candidates, summary.bits_per_weight_quantized) == (17.62, 5.0)


def test_tinynet_all_int4():
    summary = summarize(tinynet_ops(fc2_disabled=False))
    assert summary.tensors == {"int4/per_block": 3}
    assert summary.weight_bytes_after == 17_120
    assert summary.bits_per_weight_candidates == 5.0


def test_int4_block_bytes():
    # 100 x 128 int4 codes = 6,400 bytes, plus 100 x 4 float32 scales = 1,600 bytes.
    assert quantized_bytes((100, 128), int4_block_spec(100, 128)) == 8_000


def test_odd_int4_row_pads_one_nibble_per_row():
    spec = attrs.evolve(int4_block_spec(3, 32), scale_shape=(1, 1))
    assert quantized_bytes((3, 5), spec) == 3 * 3 + 4


def test_e8m0_scales_take_one_byte():
    spec = attrs.evolve(
        int4_block_spec(4, 64), dtype="float4_e2m1fn_x2", scale_dtype="float8_e8m0fnu"
    )
    assert quantized_bytes((4, 64), spec) == 128 + 8


def test_asymmetric_zero_points_one_byte_each():
    spec = attrs.evolve(int4_block_spec(4, 64), qscheme="asymmetric")
    assert quantized_bytes((4, 64), spec) == 128 + 8 * 4 + 8


def test_minval_stored_at_scale_size():
    spec = attrs.evolve(int4_block_spec(4, 64), qscheme="asymmetric", qformulation="minval")
    assert quantized_bytes((4, 64), spec) == 128 + 8 * 4 + 8 * 4


def test_int8_per_channel_bytes():
    spec = attrs.evolve(
        int4_block_spec(10, 32, dtype="int8"),
        granularity=ResolvedGranularity("per_channel", 0),
        block_shape=(1, 32),
        scale_shape=(10, 1),
    )
    assert quantized_bytes((10, 32), spec) == 320 + 40


def test_bf16_weight_in_float_counts_two_bytes():
    summary = summarize([weight_op("a", "a.weight", (10, 10), None, dtype="bfloat16")])
    assert (summary.weight_bytes_before, summary.weight_bytes_after) == (200, 200)
    assert summary.bits_per_weight_candidates == 16.0


def test_no_quantized_weights_gives_none():
    summary = summarize([weight_op("a", "a.weight", (10, 10), None)])
    assert summary.bits_per_weight_quantized is None
    assert summary.tensors == {"float": 1}


def test_no_weights_at_all():
    summary = summarize([])
    assert (summary.weight_bytes_before, summary.weight_bytes_after) == (0, 0)
    assert summary.bits_per_weight_candidates is None


def test_param_used_by_two_ops_counted_once():
    spec = int4_block_spec(100, 64)
    ops = [
        weight_op("a", "embed.weight", (100, 64), spec),
        weight_op("b", "embed.weight", (100, 64), spec),
    ]
    assert summarize(ops).tensors == {"int4/per_block": 1}


def test_shared_group_counted_once():
    spec = int4_block_spec(100, 64)
    ops = [
        weight_op("a", "embed.weight", (100, 64), spec),
        weight_op("b", "head.weight", (100, 64), spec),
    ]
    shared = [
        SharedGroup(
            params=["embed.weight", "head.weight"], ops=["a", "b"], spec=spec, rule="global_config"
        )
    ]
    summary = summarize(ops, shared)
    assert summary.tensors == {"int4/per_block": 1}
    assert summary.weight_bytes_before == 100 * 64 * 4
