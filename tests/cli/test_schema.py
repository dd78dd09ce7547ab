"""`quantplan schema config|plan` as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from quantplan.schema import config_schema


def schema(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quantplan.cli", "schema", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_config_schema_printed():
    result = schema("config")

    assert result.returncode == 0
    assert json.loads(result.stdout) == config_schema()


def test_plan_schema_printed():
    plan_schema = pytest.importorskip("quantplan.schema.plan_schema").plan_schema

    result = schema("plan")

    assert result.returncode == 0
    assert json.loads(result.stdout) == plan_schema()


def test_unknown_kind_is_usage_error():
    result = schema("model")

    assert result.returncode == 2
    assert "invalid choice: 'model'" in result.stderr
