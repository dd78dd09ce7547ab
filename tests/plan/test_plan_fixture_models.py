"""Resolver plans of every fixture model: JSON round trip, schema validity, byte identity."""

from __future__ import annotations

import json

import pytest

import fixtures.models
from quantplan.compiler import compile_plan
from quantplan.plan.model import Plan
from quantplan.quantization import QuantizerConfig
from quantplan.schema.plan_schema import plan_validation_errors

FACTORIES = sorted(name for name in fixtures.models.__all__ if name.startswith("make_"))
MODES = ("graph", "eager")
# bmm is outside the default-axis table, so the experts weight needs an explicit axis.
BMM_RULE = {
    "op_state_spec": {
        "weight": {"dtype": "int8", "granularity": {"type": "per_channel", "axis": 1}}
    }
}
# W8A8 defaults for everything else.
DEFAULT = {"global_config": {"op_type_config": {"bmm": BMM_RULE}}}
# Weights int4 per-block (skipped where 4 does not divide the blocked axis) and an input map
# without key 1, so that skips and `(key absent)` rule strings also go through JSON.
MIXED = {
    "global_config": {
        "op_input_spec": {0: {"dtype": "int8"}},
        "op_state_spec": {
            "weight": {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 4}}
        },
        "op_type_config": {"bmm": BMM_RULE},
    }
}
CONFIGS = {"default": DEFAULT, "mixed": MIXED}


def compile_fixture(factory: str, mode: str, config: str) -> Plan:
    model, inputs = getattr(fixtures.models, factory)()
    quantizer_config = QuantizerConfig.from_dict({"quantization_config": CONFIGS[config]})
    return compile_plan(model, inputs, quantizer_config, execution_mode=mode)


@pytest.fixture(scope="module")
def compiled():
    """Compile each (factory, mode, config) once for the whole module."""
    cache = {}

    def get(factory: str, mode: str, config: str) -> Plan:
        if (factory, mode, config) not in cache:
            cache[factory, mode, config] = compile_fixture(factory, mode, config)
        return cache[factory, mode, config]

    return get


@pytest.mark.parametrize("config", ["default", "mixed"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("factory", FACTORIES)
def test_fixture_plan_round_trip(compiled, factory, mode, config):
    plan = compiled(factory, mode, config)
    assert Plan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize("config", ["default", "mixed"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("factory", FACTORIES)
def test_fixture_plan_validates(compiled, factory, mode, config):
    plan = compiled(factory, mode, config)
    assert plan_validation_errors(json.loads(plan.to_json())) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("factory", FACTORIES)
def test_fixture_compiles_byte_identical(compiled, factory, mode):
    again = compile_fixture(factory, mode, "mixed")
    assert again.to_json() == compiled(factory, mode, "mixed").to_json()


def test_mixed_config_has_absent_key_rules(compiled):
    plan = compiled("make_softmax_cat", "graph", "mixed")
    rules = {entry.rule for *_, entry in plan.entries()}
    assert "global_config.op_input_spec[1] (key absent)" in rules


def test_mixed_config_records_skips(compiled):
    plan = compiled("make_conv_net", "graph", "mixed")
    assert [skip.param for skip in plan.skipped] == ["encoder.0.weight"]
