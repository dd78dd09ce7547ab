"""Rule declaration order survives the plan file, so explain agrees with the plan's entries."""

from __future__ import annotations

import pytest

from fixtures.models.basic import make_tiny_net
from quantplan.compiler import compile_plan
from quantplan.compiler.explain import explain
from quantplan.plan.model import Plan
from quantplan.quantization import QuantizerConfig

INT4_BLOCK = {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 32}}
FLOAT_ACTIVATIONS = {"op_input_spec": None, "op_output_spec": None}
NULL_FIRST = {
    "global_config": FLOAT_ACTIVATIONS,
    "module_name_configs": {
        "f.*": None,
        ".*1": {**FLOAT_ACTIVATIONS, "op_state_spec": {"weight": INT4_BLOCK}},
    },
}
NULL_LAST = {
    "global_config": FLOAT_ACTIVATIONS,
    "module_name_configs": {
        ".*1": {**FLOAT_ACTIVATIONS, "op_state_spec": {"weight": INT4_BLOCK}},
        "f.*": None,
    },
}
WINNER = 'module_name_configs[".*1"]'


def _compile(section: dict, path) -> Plan:
    model, inputs = make_tiny_net()
    plan = compile_plan(model, inputs, QuantizerConfig.from_dict({"quantization_config": section}))
    plan.save(path)
    return Plan.load(path)


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("order")
    return _compile(NULL_FIRST, folder / "first.json"), _compile(NULL_LAST, folder / "last.json")


def test_reloaded_plan_keeps_rule_order(plans):
    null_first, _ = plans
    rules = null_first.config.normalized["quantization_config"]["module_name_configs"]
    assert [key for key, _ in rules] == ["f.*", ".*1"]


def test_config_fingerprint_depends_on_rule_order(plans):
    null_first, null_last = plans
    assert null_first.config.fingerprint != null_last.config.fingerprint


def test_explain_agrees_with_entry_after_reload(plans):
    null_first, _ = plans
    result = explain(null_first, "fc1.weight").ops[0]
    assert result.module_rule.path == WINNER
    assert result.entries[0][1].rule == f'{WINNER}.op_state_spec["weight"]'


def test_explain_last_declared_null_wins(plans):
    _, null_last = plans
    result = explain(null_last, "fc1.weight").ops[0]
    assert result.module_rule.path == 'module_name_configs["f.*"]'
    assert result.entries[0][1].spec is None


def test_explain_never_shadows_winner(plans):
    null_first, _ = plans
    text = str(explain(null_first, "fc1.weight"))
    assert f"shadows {WINNER}" not in text
    assert 'shadows module_name_configs["f.*"] (matches this module)' in text
