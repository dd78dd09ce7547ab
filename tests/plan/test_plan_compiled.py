"""Plans from real compiles of the fixture TinyNet: round trip, schema, byte identity and diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.models.basic import make_tiny_net
from quantplan.compiler.compile import compile_plan
from quantplan.plan.diff import diff
from quantplan.plan.model import Plan
from quantplan.quantization.config import ModuleQuantizerConfig, QuantizerConfig
from quantplan.quantization.spec import QuantizationSpec
from quantplan.schema.plan_schema import plan_validation_errors

EXAMPLE = Path(__file__).parent / "data" / "plan-example.json"


def tinynet_config(*, disable_fc2: bool) -> QuantizerConfig:
    """The documented example config: int4 per-block weights, activations off, optionally `fc2: null`."""
    spec = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32})
    global_config = ModuleQuantizerConfig(
        op_input_spec=None, op_output_spec=None, op_state_spec={"weight": spec}
    )
    config = QuantizerConfig(global_config=global_config)
    if disable_fc2:
        config.set_module_name("fc2", None)
    return config


def compile_tinynet(*, disable_fc2: bool, mode: str = "graph") -> Plan:
    model, inputs = make_tiny_net()
    return compile_plan(model, inputs, tinynet_config(disable_fc2=disable_fc2), execution_mode=mode)


@pytest.fixture(scope="module")
def compiled() -> dict[str, Plan]:
    return {
        "old": compile_tinynet(disable_fc2=True),
        "new": compile_tinynet(disable_fc2=False),
        "again": compile_tinynet(disable_fc2=True),
    }


def test_compiled_round_trip(compiled):
    assert Plan.from_json(compiled["old"].to_json()) == compiled["old"]


def test_compiled_plan_validates(compiled):
    assert plan_validation_errors(json.loads(compiled["old"].to_json())) == []


def test_two_compiles_byte_identical(compiled):
    assert compiled["again"].to_json() == compiled["old"].to_json()


def test_compiled_summary_numbers(compiled):
    summary = compiled["old"].summary
    assert (summary.weight_bytes_before, summary.weight_bytes_after) == (109_568, 60_320)
    assert (summary.bits_per_weight_candidates, summary.bits_per_weight_quantized) == (17.62, 5.0)


def test_compiled_ops_match_documented_example(compiled):
    data = json.loads(compiled["old"].to_json())
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for op in data["ops"]:
        del op["module_stack"]
        op["module_type"] = op["module_type"].replace("fixtures.models.basic.", "example.")
    assert data["ops"] == example["ops"]
    assert data["summary"] == example["summary"]


def test_compiled_diff_of_deleted_fc2_rule(compiled):
    markdown = diff(compiled["old"], compiled["new"]).to_markdown()
    assert markdown.startswith("### Plan changed: 1 tensor, 2 entries decided by another rule\n")
    assert (
        '| `linear_1` input 0 | `module_name_configs["fc2"]` | `global_config.op_input_spec` |'
        in markdown
    )
    assert "Weight bytes 60,320 → 17,120 (−71.6 %) · bits per weight 17.62 → 5.00\n" in markdown


def test_compiled_diff_changes_only_fc2_entries(compiled):
    result = diff(compiled["old"], compiled["new"])
    names = {change.location.name for change in result.spec_changes + result.rule_changes}
    assert names == {"linear_1"}
    assert (result.added, result.removed, result.op_changes) == ((), (), ())


def test_eager_compile_round_trips():
    plan = compile_tinynet(disable_fc2=True, mode="eager")
    assert plan.model.execution_mode == "eager"
    assert Plan.from_json(plan.to_json()) == plan
