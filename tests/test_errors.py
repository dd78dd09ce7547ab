"""The error records and the exception hierarchy."""

import pytest

from quantplan.errors import (
    ConfigError,
    ErrorDetail,
    PlanError,
    PlanMismatchError,
    SourcePosition,
    UnsupportedError,
)


def test_hierarchy_subclasses_builtins():
    assert issubclass(ConfigError, ValueError)
    assert issubclass(PlanError, ValueError)
    assert issubclass(PlanMismatchError, PlanError)
    assert issubclass(UnsupportedError, NotImplementedError)


def test_detail_format_with_position_and_suggestion():
    detail = ErrorDetail(
        path='global_config.op_state_spec["weight"].granularty',
        message="unknown key 'granularty'.",
        suggestion="granularity",
        position=SourcePosition("cfg.yaml", 7, 9),
    )
    assert detail.format() == (
        'cfg.yaml:7:9: global_config.op_state_spec["weight"].granularty: '
        "unknown key 'granularty'. Did you mean 'granularity'?"
    )


def test_detail_without_position_names_root():
    assert ErrorDetail(path="", message="empty file.").format() == "<root>: empty file."


def test_prefix_joins_attribute_and_key_paths():
    assert (
        ErrorDetail(path="dtype", message="m").with_prefix("global_config").path
        == "global_config.dtype"
    )
    assert ErrorDetail(path='["fc"]', message="m").with_prefix("module_name_configs").path == (
        'module_name_configs["fc"]'
    )
    assert ErrorDetail(path="", message="m").with_prefix("execution_mode").path == "execution_mode"


def test_config_error_sorts_and_lists_every_problem():
    error = ConfigError(
        [ErrorDetail(path="b", message="second."), ErrorDetail(path="a", message="first.")]
    )
    assert [detail.path for detail in error.errors] == ["a", "b"]
    assert str(error) == "2 problems:\n  a: first.\n  b: second."


def test_mismatch_error_lists_changes():
    error = PlanMismatchError(["op added: linear_3", "shape changed: fc1.weight [4, 8] -> [4, 9]"])
    assert error.changes == ["op added: linear_3", "shape changed: fc1.weight [4, 8] -> [4, 9]"]
    assert "op added: linear_3" in str(error)
    assert "2 differences" in str(error)


def test_string_detail_becomes_root_error():
    with pytest.raises(PlanError, match=r"^<root>: bad plan\.$"):
        raise PlanError("bad plan.")
