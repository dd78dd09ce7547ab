"""The plan data model: construction, lookups, spec conversion, save/load and hashing."""

from __future__ import annotations

import attrs
import pytest
import torch

from quantplan.errors import PlanError
from quantplan.plan.model import (
    Diagnostic,
    Entry,
    Plan,
    PlanOp,
    ResolvedGranularity,
    ResolvedSpec,
    Skipped,
)
from quantplan.quantization.granularity import PerBlockGranularity, PerChannelGranularity
from quantplan.quantization.spec import QuantizationSpec

from .plan_builders import FC2, int4_block_spec, tinynet_plan


def test_round_trip_equal():
    plan = tinynet_plan()
    assert Plan.from_json(plan.to_json()) == plan


def test_round_trip_restores_int_index_keys():
    loaded = Plan.from_json(tinynet_plan().to_json())
    assert list(loaded.op("linear_1").inputs) == [0]
    assert list(loaded.op("linear_1").outputs) == [0]
    assert list(loaded.op("linear_1").state) == ["weight"]


def test_index_keys_accept_digit_strings():
    op = PlanOp(
        "relu",
        "relu",
        "aten.relu.default",
        "",
        "M",
        outputs={"1": _float_entry(), "0": _float_entry()},
    )
    assert list(op.outputs) == [0, 1]


def test_round_trip_keeps_module_stack_and_capture():
    loaded = Plan.from_json(tinynet_plan().to_json())
    assert loaded.op("linear").module_stack == (("fc1", "torch.nn.modules.linear.Linear"),)
    assert loaded.model.capture.method == "torch.export"


def test_inputs_signature_normalized_to_json_data():
    plan = tinynet_plan()
    model = attrs.evolve(plan.model, inputs={"args": ({"shape": (2, 7), "dtype": "int64"},)})
    assert model.inputs == {"args": [{"shape": [2, 7], "dtype": "int64"}]}


def test_op_lookup():
    assert tinynet_plan().op("linear_1").module == "fc2"


def test_op_lookup_unknown_name_suggests():
    with pytest.raises(PlanError) as info:
        tinynet_plan().op("linear_2")
    assert str(info.value) == "ops: no op named 'linear_2' in the plan. Closest: linear_1, linear."


def test_entries_order():
    keys = [(op.name, group, key) for op, group, key, _ in tinynet_plan().entries()]
    assert keys == [
        ("embedding", "outputs", 0),
        ("embedding", "state", "weight"),
        ("linear", "inputs", 0),
        ("linear", "state", "weight"),
        ("relu", "outputs", 0),
        ("linear_1", "inputs", 0),
        ("linear_1", "outputs", 0),
        ("linear_1", "state", "weight"),
    ]


def test_entries_yield_entry_objects():
    entries = {(op.name, key): entry for op, _, key, entry in tinynet_plan().entries()}
    assert entries[("linear_1", "weight")].rule == FC2
    assert entries[("linear_1", "weight")].spec is None


def test_to_quantization_spec_has_concrete_axis():
    spec = int4_block_spec(128, 64).to_quantization_spec()
    assert spec == QuantizationSpec(
        dtype=torch.int4,
        granularity=PerBlockGranularity(block_size=32, axis=1),
        qparam_calculator_cls="static",
    )


def test_to_quantization_spec_per_channel():
    resolved = attrs.evolve(
        int4_block_spec(128, 64, dtype="int8"),
        granularity=ResolvedGranularity("per_channel", 0),
        block_shape=(1, 64),
        scale_shape=(128, 1),
    )
    assert resolved.to_quantization_spec().granularity == PerChannelGranularity(axis=0)


def test_to_quantization_spec_tuple_block():
    resolved = attrs.evolve(
        int4_block_spec(8, 64),
        granularity=ResolvedGranularity("per_block", None, [1, -1]),
        block_shape=(1, 64),
        scale_shape=(8, 1),
    )
    assert resolved.to_quantization_spec().granularity == PerBlockGranularity(block_size=(1, -1))


def test_from_spec_resolves_e8m0_scale_fields():
    spec = QuantizationSpec(
        dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 32}
    )
    resolved = ResolvedSpec.from_spec(
        spec,
        granularity=ResolvedGranularity("per_block", 1, 32),
        block_shape=(1, 32),
        scale_shape=(4, 2),
        qparam_calculator_cls="static",
    )
    assert (resolved.scale_dtype, resolved.scale_rounding) == ("float8_e8m0fnu", "floor")
    assert (resolved.quant_min, resolved.quant_max) == (-6.0, 6.0)


def test_from_spec_then_back_is_the_same_spec():
    resolved = int4_block_spec(100, 64)
    assert (
        ResolvedSpec.from_spec(
            resolved.to_quantization_spec(),
            granularity=resolved.granularity,
            block_shape=resolved.block_shape,
            scale_shape=resolved.scale_shape,
            qparam_calculator_cls="static",
        )
        == resolved
    )


def test_block_shape_is_tuple():
    assert int4_block_spec(100, 64).block_shape == (1, 32)


def test_skipped_needs_param_or_tensor():
    with pytest.raises(PlanError) as info:
        Skipped(op="linear", reason="r", rule="global_config")
    assert "names exactly one of param or tensor" in str(info.value)


def test_skipped_rejects_both_targets():
    with pytest.raises(PlanError):
        Skipped(
            op="linear",
            reason="r",
            rule="global_config",
            param="fc.weight",
            tensor="linear input 0",
        )


def test_diagnostic_rejects_unknown_severity():
    with pytest.raises(ValueError, match="severity"):
        Diagnostic(severity="fatal", code="x", message="m")


def test_save_then_load(tmp_path):
    plan = tinynet_plan()
    path = tmp_path / "plan.json"
    plan.save(path)
    assert Plan.load(path) == plan
    assert path.read_text(encoding="utf-8") == plan.to_json()


def test_load_missing_file_names_it(tmp_path):
    path = tmp_path / "missing.json"
    with pytest.raises(PlanError) as info:
        Plan.load(path)
    assert (
        str(info.value)
        == f"<root>: cannot read plan file {str(path)!r}: No such file or directory."
    )


def test_load_invalid_file_names_it(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(PlanError) as info:
        Plan.load(path)
    assert str(info.value).startswith("$: the plan is not valid JSON:")
    assert str(info.value).endswith(f"(in {path})")


def test_sha256_is_digest_of_canonical_json():
    import hashlib

    plan = tinynet_plan()
    assert plan.sha256() == hashlib.sha256(plan.to_json().encode("utf-8")).hexdigest()


def test_sha256_changes_with_a_rule():
    plan = tinynet_plan()
    op = plan.op("relu")
    changed = attrs.evolve(op, outputs={0: attrs.evolve(op.outputs[0], rule="global_config")})
    other = attrs.evolve(plan, ops=[changed if item.name == "relu" else item for item in plan.ops])
    assert other.sha256() != plan.sha256()


def _float_entry() -> Entry:
    return Entry(shape=(1,), dtype="float32", spec=None, rule="global_config")


def test_package_diff_is_the_function():
    import quantplan.plan
    from quantplan.plan.diff import PlanDiff

    plan = tinynet_plan()
    assert isinstance(quantplan.plan.diff(plan, plan), PlanDiff)
