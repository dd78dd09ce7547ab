"""Changing one module_name_configs rule: only its entries change, and diff reports exactly those."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fixtures.models.basic import make_conv_net
from quantplan.compiler import compile_plan
from quantplan.plan.diff import diff
from quantplan.quantization import QuantizerConfig

RULE = 'module_name_configs["blocks.1"]'
INT8_CHANNEL = {"dtype": "int8", "granularity": {"type": "per_channel"}}
INT4_BLOCK = {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 4}}
OLD_RULE = {
    "op_input_spec": None,
    "op_output_spec": None,
    "op_state_spec": {"weight": INT8_CHANNEL},
}
# The weight spec changes; input 0 stays float but is now left out by a map without key 0.
NEW_RULE = {
    "op_input_spec": {1: {"dtype": "int8"}},
    "op_output_spec": None,
    "op_state_spec": {"weight": INT4_BLOCK},
}


def conv_net_config(blocks_1_rule: dict) -> QuantizerConfig:
    sections = {
        "global_config": {"op_state_spec": {"weight": INT8_CHANNEL}},
        "module_name_configs": {"decoder": None, "blocks.1": blocks_1_rule},
    }
    return QuantizerConfig.from_dict({"quantization_config": sections})


@pytest.fixture(scope="module")
def compile_pair():
    """Compile the old and new config once per capture mode for the whole module."""
    cache = {}

    def get(mode: str):
        if mode not in cache:
            model, inputs = make_conv_net()
            old = compile_plan(model, inputs, conv_net_config(OLD_RULE), execution_mode=mode)
            new = compile_plan(model, inputs, conv_net_config(NEW_RULE), execution_mode=mode)
            cache[mode] = (old, new)
        return cache[mode]

    return get


@pytest.fixture(params=["graph", "eager"])
def plans(request, compile_pair):
    return compile_pair(request.param)


def _entries(plan) -> dict:
    return {(op.name, group, key): entry for op, group, key, entry in plan.entries()}


def _changed_locations(old, new) -> set:
    before, after = _entries(old), _entries(new)
    assert before.keys() == after.keys()
    return {location for location in before if before[location] != after[location]}


def test_changed_entries_all_decided_by_rule(plans):
    old, new = plans
    changed = _changed_locations(old, new)
    before, after = _entries(old), _entries(new)
    assert changed
    for location in changed:
        assert before[location].rule.startswith(RULE), location
        assert after[location].rule.startswith(RULE), location


def test_entries_of_rule_are_changed(plans):
    old, new = plans
    decided = {location for location, entry in _entries(old).items() if entry.rule.startswith(RULE)}
    assert _changed_locations(old, new) == decided


def test_diff_reports_exactly_changed_entries(plans):
    old, new = plans
    result = diff(old, new)
    reported = {
        (change.location.name, change.location.group, change.location.key)
        for change in result.spec_changes + result.rule_changes
    }
    assert reported == _changed_locations(old, new)
    assert (result.added, result.removed, result.op_changes) == ((), (), ())


def test_diff_separates_spec_and_rule_changes(plans):
    old, new = plans
    result = diff(old, new)
    weight_op = old.op(next(op.name for op in old.ops if op.module == "blocks.1"))
    assert [(c.location.name, c.location.group, c.location.key) for c in result.spec_changes] == [
        (weight_op.name, "state", "weight")
    ]
    assert [(c.location.name, c.location.group, c.location.key) for c in result.rule_changes] == [
        (weight_op.name, "inputs", 0)
    ]
    assert result.rule_changes[0].after.rule == f"{RULE}.op_input_spec[0] (key absent)"


def test_diff_text_spec_changes_first(plans):
    text = diff(*plans).to_text()
    assert text.startswith(
        "Plan changed: 1 tensor, 1 entry decided by another rule\n\nSpec changes:\n"
    )
    assert "  1 weight int8 per_channel -> int4 per_block\n" in text
    assert text.index("Spec changes:") < text.index("Decided by another rule (spec unchanged):")


def test_diff_markdown_rule_changes_in_details(plans):
    markdown = diff(*plans).to_markdown()
    table, details = markdown.split("<details>")
    assert "`blocks.1.weight` [16, 8, 3, 3]" in table
    assert f"`{RULE}.op_input_spec` | `{RULE}.op_input_spec[0] (key absent)`" in details


def _run_diff(*paths) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "quantplan.cli", "diff", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True)


def test_diff_command_exit_codes(compile_pair, tmp_path):
    old, new = compile_pair("graph")
    old.save(tmp_path / "old.json")
    new.save(tmp_path / "new.json")
    changed = _run_diff(tmp_path / "old.json", tmp_path / "new.json")
    same = _run_diff(tmp_path / "old.json", tmp_path / "old.json")
    missing = _run_diff(tmp_path / "old.json", tmp_path / "missing.json")
    assert changed.returncode == 1
    assert changed.stdout.startswith("Plan changed: 1 tensor, 1 entry decided by another rule\n")
    assert same.returncode == 0
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
