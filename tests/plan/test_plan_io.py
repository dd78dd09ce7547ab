"""Atomic writes."""

from __future__ import annotations

import os

import pytest

from quantplan.plan.io import atomic_write_bytes, atomic_write_text


def test_writes_text(tmp_path):
    path = tmp_path / "plan.json"
    atomic_write_text(path, "{}\n")
    assert path.read_text(encoding="utf-8") == "{}\n"


def test_replaces_existing_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("old", encoding="utf-8")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"


def test_leaves_no_temporary_file(tmp_path):
    atomic_write_text(tmp_path / "plan.json", "x")
    assert sorted(os.listdir(tmp_path)) == ["plan.json"]


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(os.listdir(tmp_path)) == ["plan.json"]


def test_file_mode_follows_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "plan.json", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "plan.json").stat().st_mode & 0o777 == 0o644


def test_missing_directory_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "missing" / "plan.json", "x")
