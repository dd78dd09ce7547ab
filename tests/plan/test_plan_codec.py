"""Canonical plan JSON: byte identity, layout, and agreement with the documented example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from quantplan.errors import PlanError
from quantplan.plan.model import Plan

from .plan_builders import tinynet_plan

EXAMPLE = Path(__file__).parent / "data" / "plan-example.json"
FINGERPRINTS = {"model": "sha256:" + "a" * 64, "config": "sha256:" + "b" * 64}


def example_data() -> dict:
    """The documented example plan with real-looking fingerprints in place of its placeholders."""
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["model"]["fingerprint"] = FINGERPRINTS["model"]
    data["config"]["fingerprint"] = FINGERPRINTS["config"]
    return data


def test_text_is_sorted_indented_with_newline():
    text = tinynet_plan().to_json()
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_ops_keep_execution_order():
    names = [op["name"] for op in json.loads(tinynet_plan().to_json())["ops"]]
    assert names == ["embedding", "linear", "relu", "linear_1"]


def test_index_keys_are_strings_in_json():
    op = json.loads(tinynet_plan().to_json())["ops"][3]
    assert list(op["inputs"]) == ["0"]


def test_param_only_on_state_entries():
    op = json.loads(tinynet_plan().to_json())["ops"][3]
    assert "param" not in op["inputs"]["0"]
    assert op["state"]["weight"]["param"] == "fc2.weight"


def test_floats_keep_their_form():
    data = json.loads(tinynet_plan(fc2_disabled=False).to_json())
    assert data["summary"]["bits_per_weight"] == {"candidates": 5.0, "quantized": 5.0}
    assert '"candidates": 5.0' in tinynet_plan(fc2_disabled=False).to_json()


def test_same_bytes_in_separate_processes():
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from plan_builders import tinynet_plan;"
        "sys.stdout.write(tinynet_plan().to_json())"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            capture_output=True,
            env=env,
            check=True,
        )
        outputs.add(result.stdout)
    assert outputs == {tinynet_plan().to_json().encode("utf-8")}


def test_reserialized_text_is_identical():
    text = tinynet_plan().to_json()
    assert Plan.from_json(text).to_json() == text


def test_matches_documented_example():
    data = json.loads(tinynet_plan().to_json())
    example = example_data()
    for op in data["ops"]:
        del op["module_stack"]
    del data["model"]["capture"]
    data["model"]["fingerprint"] = example["model"]["fingerprint"]
    data["config"] = example["config"]
    data["generator"] = example["generator"]
    assert data == example


def test_documented_example_loads():
    plan = Plan.from_json(json.dumps(example_data()))
    assert plan.op("linear_1").state["weight"].rule == 'module_name_configs["fc2"]'
    assert plan.op("linear").module_stack == ()


def test_documented_example_summary_recomputes():
    from quantplan.plan.summary import summarize

    plan = Plan.from_json(json.dumps(example_data()))
    assert summarize(plan.ops) == plan.summary


def test_unknown_format_names_supported_one():
    text = tinynet_plan(format="quantplan.plan/2").to_json()
    with pytest.raises(PlanError) as info:
        Plan.from_json(text)
    assert str(info.value) == (
        "$.format: unsupported plan format 'quantplan.plan/2'; this quantplan reads "
        "'quantplan.plan/1'. Recompile the plan with this version of quantplan."
    )


def test_invalid_json_raises_plan_error():
    with pytest.raises(PlanError) as info:
        Plan.from_json('{"format": ')
    assert str(info.value).startswith(
        "$: the plan is not valid JSON: Expecting value: line 1 column 12"
    )


def test_non_object_document_rejected():
    with pytest.raises(PlanError) as info:
        Plan.from_json("[]")
    assert str(info.value) == "$: [] is not of type 'object'"


def test_nan_summary_cannot_be_written():
    plan = tinynet_plan()
    broken = attrs.evolve(
        plan, summary=attrs.evolve(plan.summary, bits_per_weight_candidates=float("nan"))
    )
    with pytest.raises(PlanError) as error:
        broken.to_json()
    assert str(error.value).startswith(
        "$.summary.bits_per_weight.candidates: the plan holds the non-finite number nan,"
    )
