"""docs/config-reference.md is exactly what its generator writes from the config schema."""

from __future__ import annotations

import importlib.util

from .markdown_blocks import REPOSITORY


def _generator():
    path = REPOSITORY / "docs" / "generate_config_reference.py"
    spec = importlib.util.spec_from_file_location("generate_config_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_reference_is_current() -> None:
    generator = _generator()
    committed = (REPOSITORY / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert committed == generator.render(generator.load_schema()), (
        "docs/config-reference.md is stale: run .venv/bin/python docs/generate_config_reference.py"
    )


def test_reference_lists_every_definition() -> None:
    generator = _generator()
    schema = generator.load_schema()
    page = generator.render(schema)
    for name in schema.get("definitions", {}):
        assert f"## {name}\n" in page


def test_type_text_describes_combinators() -> None:
    generator = _generator()
    node = {"anyOf": [{"$ref": "#/definitions/QuantizationSpec"}, {"type": "null"}]}
    assert generator.type_text(node) == "[QuantizationSpec](#quantizationspec) or null"
