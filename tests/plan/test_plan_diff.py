"""Plan diff: what counts as a change, grouping, and the three output formats."""

from __future__ import annotations

import json

import attrs

from quantplan.plan.diff import diff
from quantplan.plan.model import Entry, GeneratorMeta, ModuleBoundary, PlanOp, SharedGroup, Skipped

from .plan_builders import int4_block_spec, tinynet_plan

DOCUMENTED_MARKDOWN = """\
### Plan changed: 1 tensor, 2 entries decided by another rule

| tensor | op | before | after | decided by |
|---|---|---|---|---|
| `fc2.weight` [100, 128] | `linear_1` (fc2) | float | int4 per_block(axis 1, block 32), scale [100, 4] | `global_config.op_state_spec["weight"]` (was `module_name_configs["fc2"]`) |

<details><summary>2 entries stay the same but are decided by another rule</summary>

| entry | before | after |
|---|---|---|
| `linear_1` input 0 | `module_name_configs["fc2"]` | `global_config.op_input_spec` |
| `linear_1` output 0 | `module_name_configs["fc2"]` | `global_config.op_output_spec` |
</details>

Weight bytes 60,320 → 17,120 (−71.6 %) · bits per weight 17.62 → 5.00

> Note: config fingerprint: sha256:222222222222... -> sha256:333333333333...
"""


def deleted_fc2_line():
    return diff(tinynet_plan(fc2_disabled=True), tinynet_plan(fc2_disabled=False))


def replace_op(plan, name, **changes):
    return attrs.evolve(
        plan, ops=[attrs.evolve(op, **changes) if op.name == name else op for op in plan.ops]
    )


def with_weight_spec(plan, op_name, spec, rule='global_config.op_state_spec["weight"]'):
    op = plan.op(op_name)
    weight = attrs.evolve(op.state["weight"], spec=spec, rule=rule)
    return replace_op(plan, op_name, state={"weight": weight})


def test_identical_plans_are_same():
    result = diff(tinynet_plan(), tinynet_plan())
    assert not result.changed
    assert result.notes == ()


def test_documented_example_markdown():
    assert deleted_fc2_line().to_markdown() == DOCUMENTED_MARKDOWN


def test_documented_example_counts():
    result = deleted_fc2_line()
    assert len(result.spec_changes) == 1
    assert len(result.rule_changes) == 2
    assert result.changed


def test_documented_example_text():
    assert deleted_fc2_line().to_text() == (
        "Plan changed: 1 tensor, 2 entries decided by another rule\n"
        "\n"
        "Spec changes:\n"
        "  1 weight float -> int4\n"
        "    fc2.weight [100, 128] in linear_1 (fc2): float -> int4 per_block(axis 1, block 32), scale [100, 4]\n"
        '      decided by global_config.op_state_spec["weight"] (was module_name_configs["fc2"])\n'
        "\n"
        "Decided by another rule (spec unchanged):\n"
        '  linear_1 input 0: module_name_configs["fc2"] -> global_config.op_input_spec\n'
        '  linear_1 output 0: module_name_configs["fc2"] -> global_config.op_output_spec\n'
        "\n"
        "Weight bytes 60,320 -> 17,120 (-71.6 %), bits per weight 17.62 -> 5.00\n"
        "note: config fingerprint: sha256:222222222222... -> sha256:333333333333...\n"
    )


def test_documented_example_json():
    data = json.loads(deleted_fc2_line().to_json())
    assert data["changed"] is True
    assert data["groups"] == [{"count": 1, "label": "1 weight float -> int4"}]
    assert data["spec_changes"][0]["location"] == {
        "call_site": 0,
        "group": "state",
        "key": "weight",
        "kind": "op",
        "module": "fc2",
        "name": "linear_1",
    }
    assert data["spec_changes"][0]["before"]["spec"] is None
    assert data["weight_bytes"] == {"after": 17120, "before": 60320}
    assert data["bits_per_weight"] == {"after": 5.0, "before": 17.62}


def test_metadata_only_is_same_with_notes():
    old = tinynet_plan()
    new = attrs.evolve(
        old,
        generator=GeneratorMeta(version="0.2.0"),
        model=attrs.evolve(old.model, torch="2.14.0"),
        config=attrs.evolve(old.config, fingerprint="sha256:" + "9" * 64),
    )
    result = diff(old, new)
    assert not result.changed
    assert result.notes == (
        "generator: quantplan 0.1.0 -> quantplan 0.2.0",
        "torch version: 2.13.0 -> 2.14.0",
        "config fingerprint: sha256:222222222222... -> sha256:999999999999...",
    )


def test_metadata_only_headline():
    old = tinynet_plan()
    new = attrs.evolve(old, model=attrs.evolve(old.model, torch="2.14.0"))
    assert diff(old, new).to_markdown().startswith("### Plans are the same\n")


def test_rule_only_change_counts():
    old = tinynet_plan()
    new = replace_op(
        old, "relu", outputs={0: attrs.evolve(old.op("relu").outputs[0], rule="global_config")}
    )
    result = diff(old, new)
    assert result.changed
    assert result.spec_changes == ()
    assert [change.location.name for change in result.rule_changes] == ["relu"]


def test_groups_by_kind_with_counts():
    old = tinynet_plan(fc2_disabled=False)
    new = old
    for name in ("embedding", "linear", "linear_1"):
        spec = old.op(name).state["weight"].spec
        new = with_weight_spec(
            new, name, attrs.evolve(spec, dtype="int8", quant_min=-128, quant_max=127)
        )
    result = diff(new, old)
    assert [label for label, _ in _groups(result)] == ["3 weights int8 -> int4"]


def test_left_in_float_grouped_by_rule():
    old = tinynet_plan(fc2_disabled=False)
    new = with_weight_spec(old, "linear_1", None, rule='module_name_configs["lm_head"]')
    labels = [label for label, _ in _groups(diff(old, new))]
    assert labels == ['1 weight now left in float by module_name_configs["lm_head"]']


def test_granularity_change_labelled():
    old = tinynet_plan(fc2_disabled=False)
    new = with_weight_spec(
        old, "linear", attrs.evolve(int4_block_spec(128, 64, block=16), scale_shape=(128, 4))
    )
    labels = [label for label, _ in _groups(diff(old, new))]
    assert labels == [
        "1 weight int4 per_block(axis 1, block 32) -> int4 per_block(axis 1, block 16)"
    ]


def test_other_field_change_visible():
    old = tinynet_plan(fc2_disabled=False)
    spec = old.op("linear").state["weight"].spec
    new = with_weight_spec(old, "linear", attrs.evolve(spec, range_calculator_cls="mse"))
    text = diff(old, new).to_text()
    assert "int4 per_block(axis 1, block 32), scale [128, 2] (range_calculator_cls mse)" in text


def test_multiple_groups_listed_in_markdown():
    old = tinynet_plan(fc2_disabled=False)
    new = with_weight_spec(old, "linear_1", None, rule='module_name_configs["fc2"]')
    spec = old.op("linear").state["weight"].spec
    new = with_weight_spec(
        new, "linear", attrs.evolve(spec, dtype="int8", quant_min=-128, quant_max=127)
    )
    markdown = diff(old, new).to_markdown()
    assert (
        '\n- 1 weight int4 -> int8\n- 1 weight now left in float by module_name_configs["fc2"]\n'
        in markdown
    )


def test_skipped_change_counts():
    old = tinynet_plan()
    skipped = Skipped(
        op="linear",
        param="fc1.weight",
        reason="block size 48 does not divide 64",
        rule="global_config",
    )
    result = diff(old, attrs.evolve(old, skipped=[skipped]))
    assert result.changed
    assert result.skipped_changes == (
        "fc1.weight (op linear) now skipped: block size 48 does not divide 64 (rule global_config)",
    )


def test_shared_change_counts():
    old = tinynet_plan()
    group = SharedGroup(
        params=["embed.weight", "fc2.weight"],
        ops=["embedding", "linear_1"],
        spec=None,
        rule="global_config",
    )
    result = diff(old, attrs.evolve(old, shared=[group]))
    assert result.shared_changes == ("shared group [embed.weight, fc2.weight] added",)
    assert result.changed


def test_module_boundary_change_counts():
    old = tinynet_plan()
    boundary = ModuleBoundary(
        module="fc2", inputs={0: Entry((2, 7, 128), "float32", None, "global_config")}
    )
    changed = ModuleBoundary(
        module="fc2", inputs={0: Entry((2, 7, 128), "float32", int4_block_spec(7, 128), "x")}
    )
    result = diff(attrs.evolve(old, modules=[boundary]), attrs.evolve(old, modules=[changed]))
    assert [change.location.kind for change in result.spec_changes] == ["module"]


def test_op_added_and_removed():
    old = tinynet_plan()
    extra = PlanOp(
        "softmax",
        "softmax",
        "aten.softmax.int",
        "",
        "example.TinyNet",
        outputs={0: Entry((2, 7, 100), "float32", None, "global_config.op_output_spec")},
    )
    result = diff(old, attrs.evolve(old, ops=[*old.ops, extra]))
    assert result.op_changes == ("op softmax added (softmax in <root>)",)
    assert [change.location.name for change in result.added] == ["softmax"]
    assert diff(attrs.evolve(old, ops=[*old.ops, extra]), old).op_changes == (
        "op softmax removed (softmax in <root>)",
    )


def test_fused_group_change_counts():
    old = tinynet_plan()
    result = diff(old, replace_op(old, "relu", fused_group=None))
    assert result.op_changes == ("op relu: fused_group 'linear' -> None",)


def test_markdown_escapes_pipes_in_rules():
    old = tinynet_plan(fc2_disabled=False)
    new = with_weight_spec(old, "linear_1", None, rule='module_name_configs["re:fc(1|2)"]')
    assert 'module_name_configs["re:fc(1\\|2)"]' in diff(old, new).to_markdown()


def _groups(result):
    from quantplan.plan.diff_format import change_groups

    return change_groups(result)
