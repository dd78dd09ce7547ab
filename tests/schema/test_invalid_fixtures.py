"""Each invalid fixture produces exactly the error lines stored beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from quantplan.schema import validate_config_file

ROOT = Path(__file__).resolve().parents[2]
INVALID = sorted((ROOT / "fixtures" / "invalid").glob("*.yaml"))
VALID = sorted((ROOT / "fixtures" / "valid").glob("*.yaml"))


def test_there_are_enough_invalid_fixtures():
    assert len(INVALID) >= 30
    assert all(path.with_suffix(".errors").exists() for path in INVALID)


@pytest.mark.parametrize("path", INVALID, ids=lambda path: path.stem)
def test_invalid_fixture_errors(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    relative = os.path.relpath(path, ROOT)
    expected = path.with_suffix(".errors").read_text(encoding="utf-8").splitlines()

    lines = [detail.format() for detail in validate_config_file(relative)]

    assert lines == expected


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
def test_valid_fixture_has_no_problems(path):
    assert validate_config_file(str(path)) == []
