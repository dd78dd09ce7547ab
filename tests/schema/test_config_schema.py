"""The generated config schema: shipped file, strictness, and agreement with the loader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from quantplan.loading import read_yaml
from quantplan.schema import CONFIG_SCHEMA_FILE, config_schema, render_config_schema
from quantplan.schema.validate import schema_problems, to_json_data

ROOT = Path(__file__).resolve().parents[2]
VALID = sorted((ROOT / "fixtures" / "valid").glob("*.yaml"))
INVALID = sorted((ROOT / "fixtures" / "invalid").glob("*.yaml"))
sys.path.insert(0, str(ROOT / "tests" / "loading"))
from config_api_doc import yaml_blocks  # noqa: E402

# Invalid fixtures whose only problem is an unknown or misplaced key.
KEY_FIXTURES = [
    "top_unknown_key",
    "config_misspelt_key",
    "module_misspelt_key",
    "op_misspelt_key",
    "spec_misspelt_key",
    "granularity_misspelt_key",
    "anchor_misspelt_key",
    "global_module_input_spec",
    "weight_at_top_level",
    "per_tensor_with_axis",
]


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(config_schema())


def _walk(schema):
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from _walk(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _walk(item)


def test_shipped_schema_file_is_current():
    assert CONFIG_SCHEMA_FILE.read_text(encoding="utf-8") == render_config_schema()


def test_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(config_schema())
    assert config_schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_every_object_is_strict():
    objects = [node for node in _walk(config_schema()) if "properties" in node]

    assert len(objects) >= 8
    assert all(node.get("additionalProperties") is False for node in objects)


def test_every_field_has_description():
    definitions = config_schema()["definitions"]
    for name in ("QuantizerConfig", "ModuleQuantizerConfig", "QuantizationSpec"):
        for field, schema in definitions[name]["properties"].items():
            assert schema["description"], f"{name}.{field}"


def test_enums_for_editors():
    spec = config_schema()["definitions"]["QuantizationSpec"]["properties"]

    assert spec["qscheme"]["enum"] == ["symmetric", "symmetric_with_clipping", "asymmetric"]
    assert "float4_e2m1fn_x2" in spec["dtype"]["enum"]
    assert "moving_average" in spec["qparam_calculator_cls"]["enum"]


def test_global_config_has_no_boundary_fields():
    definitions = config_schema()["definitions"]
    fields = definitions["GlobalModuleConfig"]["properties"]

    assert "module_input_spec" not in fields
    assert "module_output_spec" not in fields
    assert "module_input_spec" in definitions["ModuleQuantizerConfig"]["properties"]


def test_integer_key_validates_as_string():
    data = {"quantization_config": {"global_config": {"op_input_spec": {0: {"dtype": "int8"}}}}}

    assert list(_validator().iter_errors(to_json_data(data))) == []
    bad = {"quantization_config": {"global_config": {"op_input_spec": {"x": {"dtype": "int8"}}}}}
    assert list(_validator().iter_errors(bad)) != []


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.name)
def test_schema_accepts_valid_fixture(path):
    data, file = read_yaml(path)

    assert schema_problems(data, file) == []


@pytest.mark.parametrize("block", yaml_blocks(), ids=lambda block: f"line{block.line}")
def test_schema_accepts_doc_example(block):
    data, _file = read_yaml(block.text)

    assert schema_problems(data) == []


@pytest.mark.parametrize("name", KEY_FIXTURES)
def test_schema_rejects_unknown_key_fixture(name):
    data, file = read_yaml(ROOT / "fixtures" / "invalid" / f"{name}.yaml")

    assert schema_problems(data, file) != []


def _check_jsonschema(paths: list[Path], tmp_path: Path) -> subprocess.CompletedProcess:
    schema_file = tmp_path / "config.schema.json"
    schema_file.write_text(json.dumps(config_schema()))
    tool = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(tool), "--schemafile", str(schema_file), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_jsonschema_accepts_valid_fixtures(tmp_path):
    result = _check_jsonschema(VALID, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_check_jsonschema_rejects_each_key_fixture(tmp_path):
    paths = [ROOT / "fixtures" / "invalid" / f"{name}.yaml" for name in KEY_FIXTURES]
    result = _check_jsonschema(paths, tmp_path)

    assert result.returncode == 1
    for path in paths:
        assert str(path) in result.stdout, path.name
