"""Hostile YAML: alias bombs, deep nesting, tags, recursive aliases and huge values."""

from __future__ import annotations

import time

import pytest

from quantplan.errors import ConfigError
from quantplan.loading.convert import MAX_NODES
from quantplan.quantization.config import QuantizerConfig
from quantplan.quantization.fields import MAX_EXCERPT

_BOMB_LEVELS = "\n".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
BOMB = f"a: &a [{', '.join(['lol'] * 9)}]\n{_BOMB_LEVELS}\n"


def _errors(text: str) -> list:
    with pytest.raises(ConfigError) as info:
        QuantizerConfig.from_yaml(text)
    return info.value.errors


def test_alias_bomb_rejected_quickly():
    text = BOMB + "quantization_config:\n  global_config:\n    op_input_spec: *i\n"

    start = time.perf_counter()
    errors = _errors(text)
    elapsed = time.perf_counter() - start

    assert elapsed < 5
    assert len(errors) == 1
    assert f"more than {MAX_NODES:,} YAML nodes after expanding alias *" in errors[0].message


def test_recursive_alias_rejected():
    errors = _errors("&loop\nquantization_config: *loop\n")

    assert errors[0].message.startswith("alias *loop is used inside its own anchor &loop")


def test_deep_nesting_is_config_error():
    text = "quantization_config: " + "[" * 3000 + "]" * 3000

    errors = _errors(text)

    assert errors[0].message.startswith("the YAML nests more than 64 levels deep")


def test_error_values_are_excerpts():
    big = "[" + ", ".join(["[" + ", ".join(["x"] * 50) + "]"] * 50) + "]"
    text = f"quantization_config:\n  global_config:\n    op_input_spec: {big}\n"

    message = _errors(text)[0].message

    assert len(message) < MAX_EXCERPT + 120
    assert "..." in message


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!custom {}", "!custom"),
        ("!!python/object/apply:os.system [echo]", "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
    ],
)
def test_yaml_tags_rejected(value, tag):
    errors = _errors(f"quantization_config:\n  global_config: {value}\n")

    assert [error.path for error in errors] == ["global_config"]
    assert errors[0].message.startswith(f"YAML tag {tag} is not supported")
    assert (errors[0].position.line, errors[0].position.column) == (2, 18)


def test_core_str_tag_allowed():
    config = QuantizerConfig.from_yaml(
        "quantization_config:\n  module_name_configs: {!!str 2: null}\n"
    )

    assert list(config.module_name_configs) == ["2"]


def test_duplicate_key_in_rule_map():
    text = "quantization_config:\n  module_name_configs:\n    fc: null\n    fc: {}\n"

    errors = _errors(text)

    assert [error.format() for error in errors] == [
        "<string>:4:5: module_name_configs[\"fc\"]: duplicate key 'fc' (first written on line 3); "
        "keep only one of them."
    ]
